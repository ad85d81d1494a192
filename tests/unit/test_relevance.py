"""The shipped relevance maps: well-formed, in [0, 1], rising with the scores."""

from __future__ import annotations

import pytest

from tasksift.search.hits import Explanation, Hit
from tasksift.search.relevance import FEATURES, calibration, with_relevance


def hit(rank: int, score: float, dense: float | None = None, fused: float | None = None) -> Hit:
    why = Explanation(dense, rank, None, None, fused)
    return Hit(rank, f"d{rank}", "p", score, rank, 0, 0, 1, "text", explanation=why)


def test_the_shipped_maps_name_their_features() -> None:
    shipped = calibration()
    assert set(shipped) == set(FEATURES)
    for kind, model in shipped.items():
        assert tuple(model["features"]) == FEATURES[kind]
        assert len(model["weights"]) == len(FEATURES[kind])


@pytest.mark.parametrize("kind", sorted(FEATURES))
def test_relevance_is_a_probability_that_falls_down_the_list(kind: str) -> None:
    hits = [hit(r, 1.0 / r, dense=0.9 / r, fused=1.0 / r) for r in range(1, 8)]
    rated = [h.relevance for h in with_relevance(kind, hits)]
    assert all(0.0 <= p <= 1.0 for p in rated)
    assert rated == sorted(rated, reverse=True) and rated[0] > rated[-1]
