"""Evaluation: retrieval measures of a run against relevance judgments, with their
uncertainty.

Measures come from ir-measures (with pytrec_eval underneath, as MTEB and BEIR use), imported
only when ``tasksift eval`` runs. Each measure is known per query; its mean gets a 95%
percentile-bootstrap confidence interval over queries, and two runs over the same queries
are compared by their paired per-query differences: a bootstrap interval of the mean
difference and a two-sided paired randomization test (signs of the differences flipped at
random, as Smucker et al., CIKM 2007, recommend for IR), both from ``scipy.stats`` with a
fixed seed, so that a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tasksift.errors import InputError
from tasksift.search.hits import Hit

if TYPE_CHECKING:
    import numpy as np

Run = dict[str, dict[str, float]]
RESAMPLES = 1000  # bootstrap resamples of the queries
PERMUTATIONS = 10000  # random sign flips of the randomization test (exact below 2^13 queries)
SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Scores:
    """One row of the evaluation table: each measure's mean, its 95% interval, and its
    value on each query (in the order of the queries measured)."""

    name: str
    measures: dict[str, float]  # measure name -> mean in [0, 1]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    per_query: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Difference:
    """``b - a`` on one measure: the mean paired difference, its 95% interval, and the
    two-sided p-value of the paired randomization test."""

    mean: float
    interval: tuple[float, float]
    p_value: float


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    differences: dict[str, Difference]  # measure name -> difference


def to_run(qids: Sequence[str], results: Sequence[list[Hit]]) -> Run:
    """``{qid: {docid: score}}`` with each document once, at its final score."""
    run: Run = {}
    for qid, hits in zip(qids, results, strict=True):
        scores = run.setdefault(qid, {})
        for hit in hits:
            score = hit.rerank_score if hit.rerank_score is not None else hit.score
            scores.setdefault(hit.doc_id, score)
    return run


def measure(
    name: str,
    run: Run,
    qrels: Mapping[str, Mapping[str, int]],
    qids: Sequence[str],
    k: int,
    depth: int,
) -> Scores:
    """nDCG@k, MRR@k, Recall@depth and MAP (graded relevance as gain), averaged over ``qids``,
    with bootstrap intervals.

    A query in ``qids`` that the run does not answer counts as zero, as trec_eval's ``-c``.
    """
    import numpy as np

    try:
        import ir_measures
        from ir_measures import AP, RR, R, nDCG
    except ImportError as exc:
        raise InputError("tasksift eval needs ir-measures: pip install 'tasksift[eval]'") from exc
    wanted = {f"nDCG@{k}": nDCG @ k, f"MRR@{k}": RR @ k, f"Recall@{depth}": R @ depth, "MAP": AP}
    judged = {q: dict(qrels[q]) for q in qids if q in run}
    position = {qid: i for i, qid in enumerate(qids)}
    values = {label: np.zeros(len(qids)) for label in wanted}
    labels = {str(m): label for label, m in wanted.items()}
    for metric in ir_measures.iter_calc(list(wanted.values()), judged, run):
        values[labels[str(metric.measure)]][position[metric.query_id]] = metric.value
    means = {label: float(v.mean()) if len(v) else 0.0 for label, v in values.items()}
    intervals = {label: interval(v) for label, v in values.items()}
    return Scores(name, means, intervals, values)


def interval(values: np.ndarray) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of ``values`` (seeded)."""
    import numpy as np
    from scipy.stats import bootstrap

    if len(values) < 2 or np.ptp(values) == 0:  # nothing to resample
        mean = float(values.mean()) if len(values) else 0.0
        return mean, mean
    found = bootstrap(
        (values,), np.mean, n_resamples=RESAMPLES, confidence_level=LEVEL,
        method="percentile", random_state=SEED,
    )  # fmt: skip
    return float(found.confidence_interval.low), float(found.confidence_interval.high)


def compare(a: Scores, b: Scores) -> Comparison:
    """``b`` against ``a``, measured on the same queries: paired differences per measure."""
    from scipy.stats import permutation_test

    differences = {}
    for label, first in a.per_query.items():
        delta = b.per_query[label] - first
        if len(delta) == 0 or not delta.any():
            differences[label] = Difference(0.0, (0.0, 0.0), 1.0)
            continue
        test = permutation_test(
            (delta,), _mean, permutation_type="samples", vectorized=True,
            n_resamples=PERMUTATIONS, alternative="two-sided", random_state=SEED,
        )  # fmt: skip
        differences[label] = Difference(float(delta.mean()), interval(delta), float(test.pvalue))
    return Comparison(a.name, b.name, differences)


def _mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return values.mean(axis=axis)


def judged_queries(qids: Sequence[str], qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """The queries that have at least one relevant document."""
    return [q for q in qids if any(g > 0 for g in qrels.get(q, {}).values())]


def overlap_at_k(approximate: Run, exact: Run, k: int) -> float:
    """Mean share of the exact top-``k`` documents that the approximate run also returns."""
    shares = []
    for qid, exact_docs in exact.items():
        top_exact = sorted(exact_docs, key=exact_docs.get, reverse=True)[:k]
        found = approximate.get(qid, {})
        top_found = set(sorted(found, key=found.get, reverse=True)[:k])
        if top_exact:
            shares.append(len(top_found.intersection(top_exact)) / len(top_exact))
    return sum(shares) / len(shares) if shares else 0.0
