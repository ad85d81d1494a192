"""``tasksift eval``: retrieval quality against judgments, or classification against gold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tasksift.cli.console import report_problems
from tasksift.cli.options import (
    REPORT_FORMATS,
    AdapterOption,
    AlphaOption,
    AnyTask,
    Candidates,
    ExamplesOption,
    FusionDepth,
    FusionOption,
    IndexPath,
    LabelsOption,
    MethodOption,
    ModelOption,
    ReportFormat,
    RerankModel,
    RerankOption,
    TaskOption,
)
from tasksift.cli.searching import fusion_of, note_long_queries, open_searcher
from tasksift.errors import InputError
from tasksift.options import (
    DEFAULT_ALPHA,
    DEFAULT_FUSION_DEPTH,
    DEFAULT_RERANK_MODEL,
    EvalMode,
    FusionMethod,
    SearchMode,
    SearchRequest,
)

if TYPE_CHECKING:
    from tasksift.evaluate import Run, Scores
    from tasksift.queries import Query
    from tasksift.search.searcher import Searcher


def register(app: typer.Typer) -> None:
    app.command(name="eval")(evaluate)


def evaluate(
    queries_file: Annotated[
        str | None,
        typer.Option(
            "--queries", "-Q", help="Queries (as for search --queries).", show_default=False
        ),
    ] = None,  # fmt: skip
    qrels: Annotated[
        Path | None,
        typer.Option(
            help="Judgments: TREC (qid 0 docid rel) or BEIR TSV with header.", show_default=False
        ),
    ] = None,  # fmt: skip
    labels_file: LabelsOption = None,
    examples_file: ExamplesOption = None,
    gold: Annotated[
        Path | None,
        typer.Option(
            "--gold",
            help="With --labels/--examples: the right label of each document "
            "(doc_id<TAB>label); reports accuracy and macro-F1.",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    method: MethodOption = "centroid",
    any_task: AnyTask = False,
    index_path: IndexPath = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Cutoff of nDCG@k and MRR@k.")] = 10,
    depth: Annotated[
        int, typer.Option(min=1, help="Documents retrieved per query (Recall@depth, MAP).")
    ] = 100,
    mode: Annotated[
        EvalMode | None,
        typer.Option(
            "--mode",
            help="Search mode to evaluate, or all: hybrid, dense and lexical side by side. "
            "Default: as search.",
            show_default=False,
        ),
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Also run exact cosine search, and compare.")
    ] = False,
    task: TaskOption = None,
    model: ModelOption = None,
    adapter: AdapterOption = None,
    fusion: FusionOption = FusionMethod.CONVEX,
    alpha: AlphaOption = DEFAULT_ALPHA,
    fusion_depth: FusionDepth = DEFAULT_FUSION_DEPTH,
    rerank: RerankOption = False,
    rerank_model: RerankModel = DEFAULT_RERANK_MODEL,
    candidates: Candidates = 100,
    fmt: ReportFormat = None,
) -> None:
    """Measure retrieval quality against relevance judgments (nDCG, MRR, Recall, MAP).

    Every judged query counts: one the run does not answer scores zero (trec_eval -c).
    With --rerank, each first-stage run is shown beside its reranked version.
    With --labels (or --examples) and --gold: classification accuracy and macro-F1.
    """
    out_format = REPORT_FORMATS.chosen(fmt)
    if labels_file is not None or examples_file is not None or gold is not None:
        from tasksift.cli.tasks import evaluate_labels

        evaluate_labels(index_path, labels_file, examples_file, gold, method, any_task, out_format)
        return
    if queries_file is None or qrels is None:
        raise typer.BadParameter("give --queries and --qrels, or --labels and --gold")

    from tasksift.evaluate import judged_queries
    from tasksift.output.emit import emit
    from tasksift.output.reports import eval_output
    from tasksift.queries import read_qrels, read_queries

    judgments = read_qrels(qrels)
    batch = read_queries(queries_file)
    every = mode is EvalMode.ALL
    searcher = open_searcher(
        index_path,
        SearchRequest(task, model, adapter=adapter),
        rerank,
        rerank_model,
        max(candidates, depth),
        mode=SearchMode.HYBRID if every else (mode and SearchMode(mode.value)),
        fusion=fusion_of(fusion, alpha, fusion_depth),
    )
    report_problems(batch)
    judged = judged_queries(list(judgments), judgments)
    asked = [q for q in batch.queries if q.qid in set(judged)]
    if not asked:
        raise InputError("none of the queries has a relevant document in the judgments")
    note_long_queries(searcher, asked)
    report: dict[str, Any] = {
        "queries": len(judged),
        "unanswered": len(judged) - len(asked),
        "k": k,
        "depth": depth,
    }
    if searcher.reranker is not None:
        report["rerank"] = {"model": searcher.reranker.name,
                            "backend": searcher.reranker.backend,
                            "candidates": searcher.candidates}  # fmt: skip
    modes = [SearchMode.HYBRID, SearchMode.DENSE, SearchMode.LEXICAL] if every else [searcher.mode]
    cutoffs = Judged(judgments, judged, k, depth)
    rows = _measured_runs(searcher, asked, cutoffs, modes, exact, report)
    report["runs"] = {row.name: row.measures for row in rows}
    emit(eval_output(rows, report), out_format)


@dataclass(frozen=True)
class Judged:
    """The judgments runs are measured against, the judged queries, and the cutoffs."""

    judgments: Mapping[str, Mapping[str, int]]
    queries: list[str]
    k: int
    depth: int

    def measure(self, name: str, run: Run) -> Scores:
        from tasksift.evaluate import measure

        return measure(name, run, self.judgments, self.queries, self.k, self.depth)


def _measured_runs(
    searcher: Searcher,
    asked: list[Query],
    judged: Judged,
    modes: list[SearchMode],
    exact: bool,
    report: dict[str, Any],
) -> list[Scores]:
    """Each mode's run measured; with a reranker, each beside its reranked version; with
    ``exact``, beside exact search (the ANN's overlap with it goes into ``report``)."""
    from tasksift.evaluate import overlap_at_k, to_run

    qids, texts, depth = [q.qid for q in asked], [q.text for q in asked], judged.depth
    reranker, rows = searcher.reranker, []
    for each in modes:
        searcher.mode, searcher.reranker = each, None
        run = to_run(qids, searcher.search(texts, depth))
        rows.append(judged.measure(each.value, run))
        if reranker is not None:  # the same first stage reranked, side by side
            searcher.reranker = reranker
            reranked = to_run(qids, searcher.search(texts, depth))
            rows.append(judged.measure(f"{each.value} + rerank", reranked))
            searcher.reranker = None
        if exact and each is not SearchMode.LEXICAL:  # BM25 scoring is exact already
            exact_run = to_run(qids, searcher.search(texts, depth, exact=True))
            rows.append(judged.measure(f"{each.value} exact", exact_run))
            report.setdefault(
                f"ann_recall@{judged.k}_vs_exact", overlap_at_k(run, exact_run, judged.k)
            )
    searcher.reranker = reranker
    return rows
