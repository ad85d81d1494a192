"""The lexical retriever: BM25 scores of every chunk from the index's lexical side.

Scores are computed for all chunks at once (a sparse matrix product in bm25s), so a filter
is a mask applied before the top k is taken, and a document's score is the best of its
chunks', exactly.
"""

from __future__ import annotations

import numpy as np

from tasksift.index.reader import LoadedIndex
from tasksift.search.dense import AllowedLabels
from tasksift.search.fusion import segment_best


def row_mask(index: LoadedIndex, allowed: AllowedLabels | None) -> np.ndarray | None:
    """Which sidecar rows a filtered search may return (None: all)."""
    return None if allowed is None else np.isin(index.labels, allowed.labels)


def row_scores(index: LoadedIndex, query: str, mask: np.ndarray | None) -> np.ndarray:
    """BM25 score of every row for ``query``; rows outside ``mask`` score 0."""
    scores = index.lexical.scores(query)
    return scores if mask is None else np.where(mask, scores, np.float32(0))


def top_positions(scores: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` highest positive scores, best first (ties: lower first)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > count:
        part = np.argpartition(-scores[positive], count - 1)[:count]
        positive = positive[part]
    return positive[np.lexsort((positive, -scores[positive]))]


def top_documents(index: LoadedIndex, scores: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` documents with the highest best-row score (positive), best first,
    ties to the lower document; found from the top rows, not by scoring every document."""
    positive = np.flatnonzero(scores > 0)
    wanted = max(4 * count, 64)
    while True:
        if len(positive) > wanted:
            part = positive[np.argpartition(-scores[positive], wanted - 1)[:wanted]]
            rows = positive[scores[positive] >= scores[part].min()]  # ties at the edge too
        else:
            rows = positive
        docs = np.unique(index.documents.codes[rows])
        if len(docs) >= count or len(rows) == len(positive):
            break
        wanted *= 4
    best, _ = best_rows(index, scores, docs)
    return docs[np.lexsort((docs, -best))][:count]


def best_rows(
    index: LoadedIndex, scores: np.ndarray, docs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``docs``: its best row's score, and that row (the first that reaches it)."""
    if len(docs) == 0:
        return np.zeros(0, dtype=scores.dtype), np.zeros(0, dtype=np.int64)
    rows, starts = index.documents.rows_of_many(np.asarray(docs, dtype=np.int64))
    best, first = segment_best(scores[rows], starts)
    return best, rows[first]
