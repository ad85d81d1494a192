"""Evaluation: retrieval measures of a run against relevance judgments.

Measures come from ir-measures (with pytrec_eval underneath, as MTEB and BEIR use), imported
only when ``tasksift eval`` runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tasksift.errors import InputError
from tasksift.search.hits import Hit

Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Scores:
    """One row of the evaluation table."""

    name: str
    measures: dict[str, float]  # measure name -> value in [0, 1]


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
    """nDCG@k, MRR@k, Recall@depth and MAP (graded relevance as gain), averaged over ``qids``.

    A query in ``qids`` that the run does not answer counts as zero, as trec_eval's ``-c``.
    """
    try:
        import ir_measures
        from ir_measures import AP, RR, R, nDCG
    except ImportError as exc:
        raise InputError("tasksift eval needs ir-measures: pip install 'tasksift[eval]'") from exc
    wanted = {f"nDCG@{k}": nDCG @ k, f"MRR@{k}": RR @ k, f"Recall@{depth}": R @ depth, "MAP": AP}
    judged = {q: dict(qrels[q]) for q in qids if q in run}
    totals = dict.fromkeys(wanted, 0.0)
    labels = {str(m): label for label, m in wanted.items()}
    for metric in ir_measures.iter_calc(list(wanted.values()), judged, run):
        totals[labels[str(metric.measure)]] += metric.value
    return Scores(name, {label: total / max(len(qids), 1) for label, total in totals.items()})


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
