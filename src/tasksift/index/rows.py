"""Rows grouped by document: which sidecar rows make up each document, and back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasksift.index.sidecar import (
    to_numpy,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


@dataclass(frozen=True)
class DocumentRows:
    """Sidecar rows grouped by document: rows ``order[starts[d]:ends[d]]`` are document
    ``ids[d]``'s, and ``codes[row]`` is the document of a row."""

    ids: np.ndarray  # document ids, sorted
    codes: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, doc_ids: list[str]) -> DocumentRows:
        import numpy as np

        ids, codes = np.unique(np.asarray(doc_ids, dtype=object), return_inverse=True)
        return cls.grouped(ids, codes)

    @classmethod
    def grouped(cls, ids: np.ndarray, codes: np.ndarray) -> DocumentRows:
        """Rows grouped by their ``codes`` into the documents ``ids`` (sorted)."""
        import numpy as np

        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0]) if len(order) else order
        ends = np.r_[starts[1:], len(order)] if len(order) else order
        return cls(ids, codes, order, starts, ends)

    @classmethod
    def of_column(cls, column: pa.ChunkedArray) -> DocumentRows:
        """From the sidecar's ``doc_id`` column, dictionary-encoded in its Arrow files: the
        codes come from the dictionaries, without comparing a million strings."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if len(column) == 0:
            return cls.of([])
        if not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        unified = column.unify_dictionaries()
        dictionary = unified.chunk(0).dictionary
        indices = np.concatenate([to_numpy(c.indices) for c in unified.chunks])
        sorting = pc.sort_indices(dictionary)
        order = to_numpy(sorting)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        ids = np.asarray(dictionary.take(sorting).to_pylist(), dtype=object)
        codes = rank[indices]
        present = np.bincount(codes, minlength=len(ids)) > 0
        if not present.all():  # a dictionary may hold ids no row has any more
            ids, codes = ids[present], (np.cumsum(present) - 1)[codes]
        return cls.grouped(ids.astype(object), codes)

    def rows_of(self, document: int) -> np.ndarray:
        return self.order[self.starts[document] : self.ends[document]]

    def rows_of_many(self, documents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``documents``, one after the other, and where each one's begin."""
        import numpy as np

        lengths = self.ends[documents] - self.starts[documents]
        begins = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        within = np.arange(int(lengths.sum())) - np.repeat(begins, lengths)
        return self.order[np.repeat(self.starts[documents], lengths) + within], begins
