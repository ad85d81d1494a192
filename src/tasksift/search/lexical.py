"""The lexical retriever: BM25 scores of every chunk from the index's lexical side.

Scores are computed for all chunks at once (a sparse matrix product in bm25s), so a filter
is a mask applied before the top k is taken, and a document's score is the best of its
chunks', exactly.
"""

from __future__ import annotations

import numpy as np

from tasksift.index import LoadedIndex
from tasksift.search.dense import AllowedLabels


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


def document_scores(index: LoadedIndex, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per document (``index.documents`` order): its best row's score and that row."""
    groups = index.documents
    if len(scores) == 0:
        return scores, scores.astype(np.int64)
    ordered = scores[groups.order]
    best = np.maximum.reduceat(ordered, groups.starts)
    # the first row of each document that reaches its best score
    hits = ordered == np.repeat(best, groups.ends - groups.starts)
    first = np.maximum.reduceat(
        np.where(hits, -np.arange(len(ordered)), -len(ordered)), groups.starts
    )
    return best, groups.order[-first]
