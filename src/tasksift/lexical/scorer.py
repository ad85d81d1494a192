"""A generation's BM25 matrix opened for scoring: every chunk's score for a query."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tasksift.errors import CorruptIndexError

if TYPE_CHECKING:
    import bm25s
from tasksift.lexical.record import LexicalRecord


class LexicalIndex:
    """A generation's BM25 index, opened for searching."""

    def __init__(self, retriever: bm25s.BM25, record: LexicalRecord) -> None:
        self.retriever = retriever
        self.record = record
        self.analyzer = record.analyzer

    @classmethod
    def open(cls, folder: Path, record: LexicalRecord, rows: int) -> LexicalIndex:
        """Load (memory-mapped) and check against the manifest's record."""
        import bm25s

        sizes = {p.name: p.stat().st_size for p in folder.iterdir()} if folder.is_dir() else {}
        if sizes != (record.files or {}):
            raise CorruptIndexError(
                f"lexical index in {folder} does not match its manifest (missing or changed "
                "files); rebuild it with `tasksift index --rebuild`"
            )
        try:
            retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)
        except Exception as exc:
            raise CorruptIndexError(f"lexical index in {folder} is unreadable: {exc}") from None
        if retriever.scores["num_docs"] != rows:
            raise CorruptIndexError(
                f"lexical index in {folder} holds {retriever.scores['num_docs']} chunks, the "
                f"sidecar {rows}; rebuild it with `tasksift index --rebuild`"
            )
        return cls(retriever, record)

    def query_terms(self, query: str) -> list[str]:
        """The query's terms that the index knows (repeats kept)."""
        vocabulary = self.retriever.vocab_dict
        return [t for t in self.analyzer.terms(query) if t in vocabulary]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (sidecar order) for ``query``; zeros when no term matches."""
        terms = self.query_terms(query)
        if not terms:
            return np.zeros(self.retriever.scores["num_docs"], dtype=np.float32)
        matrix = self.retriever.scores
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        summed = np.zeros(matrix["num_docs"], dtype=np.float32)
        for term in terms:  # bm25s's sum of the terms' columns (a repeated term counts again)
            column = self.retriever.vocab_dict[term]
            span = slice(int(indptr[column]), int(indptr[column + 1]))
            summed[indices[span]] += data[span]  # a column holds each row once
        return summed
