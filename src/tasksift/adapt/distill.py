"""Distillation from a cross-encoder (``tasksift adapt --teacher``): the teacher scores each
pair's passage and its mined negative, and the adapter learns the margin between them
(margin-MSE, as zEmbed-1 and Hofstätter et al. distil rankers into bi-encoders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tasksift.adapt.pairs import Pair
from tasksift.rerank.loading import load_reranker

BATCH = 256  # pairs scored together


def with_teacher_margins(pairs: Sequence[Pair], teacher: str) -> list[Pair]:
    """Each pair that has a negative, with the cross-encoder ``teacher``'s margin of its
    passage over that negative (raw scores, logits for most cross-encoders)."""
    reranker = load_reranker(teacher)
    scored: list[Pair] = []
    for begin in range(0, len(pairs), BATCH):
        part = pairs[begin : begin + BATCH]
        mined = [p for p in part if p.negative]
        scores = reranker.score_many([p.query for p in mined],
                                     [[p.text, str(p.negative)] for p in mined])  # fmt: skip
        margins = {id(p): float(s[0] - s[1]) for p, s in zip(mined, scores, strict=True)}
        scored += [replace(p, margin=margins.get(id(p))) for p in part]
    return scored
