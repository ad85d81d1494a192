"""Fusion of the two sides' scores, on candidates given directly (no index, no model)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tasksift.options import AdaptiveRule, FusionMethod
from tasksift.search.fusion import (
    Fusion,
    Weight,
    chunk_scale,
    fuse,
    minmax,
    peak,
    ranks_in,
    segment_best,
    weigh,
)

scores = arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 50, allow_nan=False))


@settings(max_examples=100, deadline=None)
@given(values=scores)
def test_minmax_maps_into_the_unit_interval_keeping_the_order(values: np.ndarray) -> None:
    scaled = minmax(values)
    assert np.all((scaled >= 0) & (scaled <= 1))
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(scaled[order]) >= -1e-12)  # never reorders
    if values.max() - values.min() > 1e-9:
        assert scaled.min() == 0 and scaled.max() == 1


def test_minmax_of_equal_scores() -> None:
    assert minmax(np.array([2.0, 2.0])).tolist() == [1.0, 1.0]
    assert minmax(np.array([0.0, 0.0])).tolist() == [0.0, 0.0]
    assert minmax(np.zeros(0)).tolist() == []


def test_convex_weights_each_side() -> None:
    dense, lexical = np.array([0.9, 0.5, 0.1]), np.array([0.0, 10.0, 5.0])
    ranks = np.array([1, 2, 3]), np.array([3, 1, 2])
    convex = Fusion(FusionMethod.CONVEX)
    only_dense = fuse(convex, Weight(1.0), dense, lexical, *ranks)
    only_lexical = fuse(convex, Weight(0.0), dense, lexical, *ranks)
    assert np.argsort(-only_dense).tolist() == [0, 1, 2]
    assert np.argsort(-only_lexical).tolist() == [1, 2, 0]
    half = fuse(convex, weigh(Fusion(FusionMethod.CONVEX, alpha=0.5), dense, lexical), dense,
                lexical, *ranks)  # fmt: skip
    assert half.tolist() == pytest.approx([0.5, 0.75, 0.25])


def test_rrf_uses_ranks_only_and_a_missing_side_adds_nothing() -> None:
    fusion = Fusion(method=FusionMethod.RRF, rrf_k=60)
    dense_rank, lexical_rank = np.array([1, 0, 2]), np.array([2, 1, 0])
    assert weigh(fusion, np.zeros(3), np.zeros(3)) is None
    fused = fuse(fusion, None, np.zeros(3), np.zeros(3), dense_rank, lexical_rank)
    assert fused.tolist() == pytest.approx([1 / 61 + 1 / 62, 1 / 61, 1 / 62])


@settings(max_examples=50, deadline=None)
@given(dense=scores, alpha=st.floats(0, 1))
def test_a_documents_further_chunks_score_at_most_what_it_does(
    dense: np.ndarray, alpha: float
) -> None:
    lexical = dense[::-1].copy()
    scale = chunk_scale(Weight(alpha), dense, lexical)
    document = alpha * minmax(dense) + (1 - alpha) * minmax(lexical)
    chunk = scale(dense - 0.5, lexical - 0.5)  # each chunk below its document on both sides
    assert np.all(chunk <= document.max() + 1e-9)


def test_ranks_in_and_segment_best() -> None:
    assert ranks_in(np.array([7, 3, 9]), np.array([3, 9])).tolist() == [0, 1, 2]
    best, first = segment_best(np.array([1.0, 3.0, 3.0, 2.0, 5.0]), np.array([0, 3]))
    assert best.tolist() == [3.0, 5.0] and first.tolist() == [1, 4]


def test_adaptive_weight_leans_to_the_side_whose_top_stands_out() -> None:
    flat, peaked = np.array([0.50, 0.49, 0.48, 0.47, 0.46]), np.array([9.0, 1.0, 1.0, 0.5, 0.2])
    rule = AdaptiveRule()
    to_lexical = weigh(Fusion(), flat, peaked)
    to_dense = weigh(Fusion(), peaked, flat)
    assert rule.low <= to_lexical.alpha < rule.base < to_dense.alpha <= rule.high
    assert to_dense.dense_peak == pytest.approx(peak(peaked))
    assert "dense side's top stands out" in to_dense.reason(rule)
    assert "lexical side's top stands out" in to_lexical.reason(rule)
    fixed = weigh(Fusion(FusionMethod.CONVEX, alpha=0.3), flat, peaked)
    assert fixed == Weight(0.3) and "fixed" in fixed.reason(rule)


@settings(max_examples=50, deadline=None)
@given(dense=scores, lexical=scores)
def test_adaptive_weight_stays_within_the_rules_bounds(
    dense: np.ndarray, lexical: np.ndarray
) -> None:
    rule = AdaptiveRule(base=0.6, slope=0.5, low=0.2, high=0.8)
    n = min(len(dense), len(lexical))
    weight = weigh(Fusion(rule=rule), dense[:n], lexical[:n])
    assert rule.low <= weight.alpha <= rule.high


def test_the_rule_round_trips_through_its_record() -> None:
    rule = AdaptiveRule(base=0.5, slope=0.2, low=0.2, high=0.8)
    assert AdaptiveRule.from_dict(rule.to_dict()) == rule
    assert AdaptiveRule.from_dict(None) is None
