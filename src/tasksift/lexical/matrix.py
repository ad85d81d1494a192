"""The BM25 matrix: bm25s's CSC score matrix, built with numpy a block of terms at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass
from tasksift.lexical.record import Bm25Params

MATRIX_BLOCK_POSTINGS = 1 << 23  # postings sorted at a time while building the matrix


def bm25_matrix(
    ids: np.ndarray, offsets: np.ndarray, terms: int, params: Bm25Params
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bm25s's CSC score matrix (documents x terms) of rows of term ids, built with numpy.

    The same scores as ``bm25s.BM25.index`` (its own idf and term-frequency functions),
    computed a block of terms at a time instead of a document at a time, so that a
    million chunks take seconds and memory in proportion to their postings.
    """
    from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

    rows = len(offsets) - 1
    lengths = np.diff(offsets).astype(np.float32)
    average = float(lengths.mean()) if rows else 0.0
    per_term = np.bincount(ids, minlength=terms)
    tfc, idf_of = _select_tfc_scorer(params.method), _select_idf_scorer(params.method)
    # at most a (term, row) pair a posting: filled block by block, sliced at the end
    data, indices = np.empty(len(ids), np.float32), np.empty(len(ids), np.int32)
    counts, filled = np.zeros(terms, dtype=np.int64), 0
    below, above = np.empty(len(ids), dtype=bool), np.empty(len(ids), dtype=bool)
    bounds = _term_blocks(per_term)
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        np.less(ids, last, out=below)
        np.greater_equal(ids, first, out=above)
        where = np.flatnonzero(np.logical_and(below, above, out=below))
        row_of = np.searchsorted(offsets, where, side="right") - 1
        keys = (ids[where].astype(np.int64) - first) * max(rows, 1) + row_of
        del where, row_of
        if len(keys) == 0:  # no posting in this block (a corpus of stopwords only)
            continue
        keys.sort()
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        tf = np.diff(np.r_[starts, len(keys)]).astype(np.float32)
        term, row = np.divmod(keys[starts], max(rows, 1))
        df = np.bincount(term, minlength=last - first)
        distinct = np.unique(df[df > 0])
        idf = np.zeros(last - first, dtype=np.float32)
        for value in distinct:  # few distinct frequencies: bm25s's scalar idf for each
            idf[df == value] = idf_of(int(value), N=rows)
        score = idf[term] * tfc(
            tf_array=tf, l_d=lengths[row], l_avg=average, k1=params.k1, b=params.b
        )
        data[filled : filled + len(score)] = score
        indices[filled : filled + len(row)] = row
        filled += len(score)
        counts[first:last] = df
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return data[:filled], indices[:filled], indptr


def _term_blocks(per_term: np.ndarray) -> list[int]:
    """Term id bounds of blocks holding about ``MATRIX_BLOCK_POSTINGS`` postings each."""
    cumulative = np.cumsum(per_term)
    total = int(cumulative[-1]) if len(cumulative) else 0
    cuts = np.searchsorted(
        cumulative, np.arange(MATRIX_BLOCK_POSTINGS, total, MATRIX_BLOCK_POSTINGS)
    )
    return sorted({0, *(int(c) + 1 for c in cuts), len(per_term)})
