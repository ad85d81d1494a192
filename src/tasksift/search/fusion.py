"""Fusion of the dense and lexical retrievers' scores into one ranking.

Adaptive fusion (the default) is the convex combination below with a dense weight set per
query from the two sides' score distributions (see ``options.AdaptiveRule``); it reads
only the scores at hand, so it costs no model and almost no time. The two functions, after
Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval" (TOIS 2023): a convex
combination of scores min-max normalized over the query's candidates (``alpha`` is the
dense side's weight), and reciprocal rank fusion, which uses ranks only (``rrf_k`` damps
the top ranks). Each retriever contributes its top ``depth`` candidates; a candidate one
side did not return is scored by that side all the same, so the convex combination never
guesses a missing score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tasksift.options import AdaptiveRule, FusionMethod


@dataclass(frozen=True)
class Fusion:
    method: FusionMethod = FusionMethod.ADAPTIVE
    alpha: float = 0.5  # the fixed weight of convex fusion
    rrf_k: int = 60
    depth: int = 100  # candidates taken from each retriever
    rule: AdaptiveRule = AdaptiveRule()  # adaptive fusion's (the index's, when recorded)


@dataclass(frozen=True)
class Weight:
    """The dense weight one query's fusion used, and why."""

    alpha: float
    dense_peak: float | None = None  # adaptive only: each side's peak (see AdaptiveRule)
    lexical_peak: float | None = None

    def reason(self, rule: AdaptiveRule) -> str:
        if self.dense_peak is None or self.lexical_peak is None:
            return f"fixed dense weight {self.alpha:.2f} (--alpha / --fusion convex)"
        lean = "dense" if self.dense_peak > self.lexical_peak else "lexical"
        return (
            f"adaptive: {rule.base:g} + {rule.slope:g} x (dense peak {self.dense_peak:.2f} - "
            f"lexical peak {self.lexical_peak:.2f}), within [{rule.low:g}, {rule.high:g}]: "
            f"the {lean} side's top stands out more"
        )


def peak(scores: np.ndarray) -> float:
    """How far the best score stands above the others: its z-score among ``scores``."""
    spread = float(scores.std()) if len(scores) > 1 else 0.0
    return (float(scores.max()) - float(scores.mean())) / spread if spread > 1e-12 else 0.0


def weigh(fusion: Fusion, dense: np.ndarray, lexical: np.ndarray) -> Weight | None:
    """The dense weight of a query whose candidates score ``dense`` and ``lexical``
    (None for RRF, which has no weight)."""
    if fusion.method is FusionMethod.RRF:
        return None
    if fusion.method is FusionMethod.CONVEX or len(dense) == 0:
        return Weight(fusion.alpha)
    rule = fusion.rule
    dense_peak, lexical_peak = peak(dense), peak(lexical)
    alpha = rule.base + rule.slope * (dense_peak - lexical_peak)
    return Weight(min(rule.high, max(rule.low, alpha)), dense_peak, lexical_peak)


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores mapped to [0, 1] over the candidates; equal scores map to 1 (0 when all are 0)."""
    if len(scores) == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low <= 1e-12:
        return np.full(len(scores), 1.0 if high > 0 else 0.0)
    return (scores - low) / (high - low)


def fuse(
    fusion: Fusion,
    weight: Weight | None,
    dense: np.ndarray,
    lexical: np.ndarray,
    dense_rank: np.ndarray,
    lexical_rank: np.ndarray,
) -> np.ndarray:
    """Fused score of each candidate, convex at ``weight`` (RRF when None); ranks are
    1-based, 0 where a side did not return it."""
    if weight is None:
        return _reciprocal(dense_rank, fusion.rrf_k) + _reciprocal(lexical_rank, fusion.rrf_k)
    return weight.alpha * minmax(dense) + (1 - weight.alpha) * minmax(lexical)


def chunk_scale(
    weight: Weight | None, dense: np.ndarray, lexical: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Scores for a document's further chunks: the convex combination of each chunk's own
    scores, normalized with the documents' ranges (``dense``, ``lexical``), so that a chunk
    scores at most what its document does. RRF, which has no scores, orders them by the
    convex combination at alpha 0.5."""
    alpha = weight.alpha if weight is not None else 0.5
    ranges = [(float(s.min()), float(s.max())) if len(s) else (0.0, 1.0) for s in (dense, lexical)]

    def scale(chunk_dense: np.ndarray, chunk_lexical: np.ndarray) -> np.ndarray:
        (dense_low, dense_high), (lexical_low, lexical_high) = ranges
        d = np.clip((chunk_dense - dense_low) / max(dense_high - dense_low, 1e-12), 0, 1)
        x = np.clip((chunk_lexical - lexical_low) / max(lexical_high - lexical_low, 1e-12), 0, 1)
        return alpha * d + (1 - alpha) * x

    return scale


def _reciprocal(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.where(ranks > 0, 1.0 / (k + np.maximum(ranks, 1)), 0.0)


def ranks_in(candidates: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """1-based position of each candidate in ``ranked`` (best first), 0 where absent."""
    position = {int(item): rank for rank, item in enumerate(ranked.tolist(), start=1)}
    return np.fromiter((position.get(int(c), 0) for c in candidates), np.int64, len(candidates))


def segment_best(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each segment of ``values`` (beginning at ``starts``): its maximum, and the
    position of the first value that reaches it."""
    best = np.maximum.reduceat(values, starts)
    lengths = np.diff(np.append(starts, len(values)))
    reached = values == np.repeat(best, lengths)
    positions = np.where(reached, np.arange(len(values)), len(values))
    return best, np.minimum.reduceat(positions, starts)
