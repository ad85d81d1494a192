"""Relevance: an estimate in [0, 1] that a hit is relevant, read from its scores.

One logistic map per kind of score (hybrid's fused score, the dense side's cosine, BM25),
fit by ``bench/relevance_fit.py`` on judged queries and shipped as ``relevance.json``. Its
calibration on collections it was not fit on is in the README. Computing it costs a few
arithmetic operations per hit.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from tasksift.search.hits import Hit

FEATURES = {
    "hybrid": ("fused", "dense", "log_rank"),
    "dense": ("dense", "log_rank"),
    "lexical": ("lexical_share", "log_rank"),
}


@functools.cache
def calibration() -> dict[str, Any]:
    """The shipped maps: per kind, the features' weights and an intercept."""
    return json.loads(Path(__file__).with_name("relevance.json").read_text(encoding="utf-8"))


def features(kind: str, hit: Hit, top_score: float) -> list[float]:
    """The features ``FEATURES[kind]`` of a hit (``top_score``: its list's best score)."""
    why = hit.explanation
    rank = why.first_stage_rank if why is not None and why.first_stage_rank else hit.rank
    values = {
        "fused": why.fused_score if why is not None else None,
        "dense": why.dense_score if why is not None and why.dense_score is not None else hit.score,
        "lexical_share": hit.score / top_score if top_score > 0 else 0.0,
        "log_rank": math.log2(max(rank, 1)),
    }
    return [float(values[name] or 0.0) for name in FEATURES[kind]]


def probability(kind: str, values: list[float]) -> float:
    """The map of ``kind`` applied to a hit's features."""
    model = calibration()[kind]
    z = model["intercept"] + sum(w * v for w, v in zip(model["weights"], values, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def with_relevance(kind: str, hits: list[Hit]) -> list[Hit]:
    """``hits`` (one query's) each with its relevance, by the map of ``kind``."""
    top = max((h.score for h in hits), default=0.0)
    return [replace(h, relevance=probability(kind, features(kind, h, top))) for h in hits]
