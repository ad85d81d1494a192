"""The retriever interface: what the searcher, ``similar`` and ``eval`` compose.

A retriever scores an index's chunks (sidecar rows) for a batch of queries. ``query``
prepares the batch once (the dense side encodes every query in one call and asks the
graph for all of them at once) and gives one ``QueryScores`` per query: its best rows, its
best documents (each as its best row), and its scores of any given rows, which is what
fusion needs to score a candidate the other retriever found. A new retriever (another
lexical engine, a late-interaction model) is one module implementing these protocols;
``Searcher`` answers with one of them or fuses two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from tasksift.index.reader import LoadedIndex
    from tasksift.options import DocumentFilter


@dataclass(frozen=True)
class Ranked:
    """Rows of the sidecar with their scores, best first."""

    rows: np.ndarray  # int64
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Ranked:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


@dataclass(frozen=True)
class RowSubset:
    """The rows a filtered search may return (``--path``, ``--type``), found once per search:
    as a mask over the rows, as their sorted labels, and as a set for the graph's filter."""

    mask: np.ndarray  # bool, one per row
    labels: np.ndarray  # sorted labels of the allowed rows
    members: frozenset[int]

    def __contains__(self, label: int) -> bool:
        return label in self.members

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def of(cls, index: LoadedIndex, where: DocumentFilter) -> RowSubset:
        groups = index.documents  # the filter is matched once per document, not per chunk
        keep = np.fromiter((where.matches(str(d)) for d in groups.ids), bool, len(groups.ids))
        mask = keep[groups.codes] if len(groups.codes) else np.zeros(0, dtype=bool)
        labels = index.labels[mask]
        return cls(mask, labels, frozenset(labels.tolist()))


class QueryScores(Protocol):
    """One query's view of the index through one retriever."""

    def top_rows(self, count: int) -> Ranked:
        """The ``count`` best rows (of the subset, when the search is filtered)."""
        ...

    def top_documents(self, count: int) -> Ranked:
        """The ``count`` best documents, each as its best row, best first."""
        ...

    def of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The query's score of each of ``rows``."""
        ...


class Retriever(Protocol):
    """A way to score chunks: dense (``dense.DenseRetriever``), BM25 (``bm25.Bm25Retriever``)."""

    name: str  # the side it is in --explain: "dense", "lexical"

    def query(self, texts: Sequence[str], subset: RowSubset | None) -> Sequence[QueryScores]:
        """One ``QueryScores`` per text, prepared for the whole batch at once."""
        ...
