"""The lexical retriever: BM25 scores of every chunk from the index's lexical side.

Scores are computed for all chunks at once (columns of the BM25 matrix summed), so a filter
is a mask applied before the top k is taken, and a document's score is the best of its
chunks', exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tasksift.index.reader import LoadedIndex
from tasksift.search.fusion import segment_best
from tasksift.search.retriever import Ranked, RowSubset


class Bm25Retriever:
    """BM25 over the index's lexical side (``lexical.scorer.LexicalIndex``)."""

    name = "lexical"

    def __init__(self, index: LoadedIndex) -> None:
        if index.lexical is None:
            raise ValueError("the index was opened without its lexical side")
        self.index = index

    def query(self, texts: Sequence[str], subset: RowSubset | None) -> list[Bm25Query]:
        mask = None if subset is None else subset.mask
        return [Bm25Query(self.index, text, mask) for text in texts]


@dataclass(frozen=True)
class Bm25Query:
    index: LoadedIndex
    text: str
    mask: np.ndarray | None  # rows a filtered search may return

    @functools.cached_property
    def scores(self) -> np.ndarray:
        """BM25 score of every row; rows outside the mask score 0."""
        scores = self.index.lexical.scores(self.text)
        return scores if self.mask is None else np.where(self.mask, scores, np.float32(0))

    def top_rows(self, count: int) -> Ranked:
        """The ``count`` rows with the highest positive scores (ties: lower row first)."""
        rows = top_positions(self.scores, count)
        return Ranked(rows, self.scores[rows])

    def top_documents(self, count: int) -> Ranked:
        """The ``count`` documents with the highest best-row score (positive), ties to the
        lower document; found from the top rows, not by scoring every document."""
        scores, codes = self.scores, self.index.documents.codes
        positive = np.flatnonzero(scores > 0)
        wanted = max(4 * count, 64)
        while True:
            if len(positive) > wanted:
                part = positive[np.argpartition(-scores[positive], wanted - 1)[:wanted]]
                rows = positive[scores[positive] >= scores[part].min()]  # ties at the edge too
            else:
                rows = positive
            documents = np.unique(codes[rows])
            if len(documents) >= count or len(rows) == len(positive):
                break
            wanted *= 4
        best, best_row = self._best_rows(documents)
        order = np.lexsort((documents, -best))[:count]
        return Ranked(best_row[order], best[order])

    def of_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.scores[rows]

    def _best_rows(self, documents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each document: its best row's score, and that row (the first that reaches it)."""
        if len(documents) == 0:
            return np.zeros(0, dtype=self.scores.dtype), np.zeros(0, dtype=np.int64)
        rows, starts = self.index.documents.rows_of_many(np.asarray(documents, dtype=np.int64))
        best, first = segment_best(self.scores[rows], starts)
        return best, rows[first]


def top_positions(scores: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` highest positive scores, best first (ties: lower first)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > count:
        part = np.argpartition(-scores[positive], count - 1)[:count]
        positive = positive[part]
    return positive[np.lexsort((positive, -scores[positive]))]
