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
from tasksift.errors import InputError, UsageError
from tasksift.options import (
    DEFAULT_FUSION_DEPTH,
    DEFAULT_RERANK_MODEL,
    EvalMode,
    SearchMode,
    SearchRequest,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from tasksift.evaluate import Run, Scores
    from tasksift.queries import Query
    from tasksift.search.searcher import Searcher


def register(app: typer.Typer) -> None:
    app.command(name="eval")(evaluate)


EvalQueries = Annotated[
    str | None,
    typer.Option("--queries", "-Q", help="Queries (as for search --queries).", show_default=False),
]
Qrels = Annotated[
    Path | None,
    typer.Option(
        help="Judgments: TREC (qid 0 docid rel) or BEIR TSV with header.", show_default=False
    ),
]
Compare = Annotated[
    tuple[str, str] | None,
    typer.Option(
        "--compare",
        metavar="RUN_A RUN_B",
        help="Compare two runs query by query: each a TREC run file or a mode (hybrid, "
        "dense, lexical; these need --queries). Reports RUN_B - RUN_A with a paired "
        "randomization test.",
        show_default=False,
    ),
]
Gold = Annotated[
    Path | None,
    typer.Option(
        "--gold",
        help="With --labels/--examples: the right label of each document "
        "(doc_id<TAB>label); reports accuracy and macro-F1.",
        show_default=False,
    ),
]
Cutoff = Annotated[int, typer.Option("-k", min=1, help="Cutoff of nDCG@k and MRR@k.")]
Depth = Annotated[
    int, typer.Option(min=1, help="Documents retrieved per query (Recall@depth, MAP).")
]
EvalModeOption = Annotated[
    EvalMode | None,
    typer.Option(
        "--mode",
        help="Search mode to evaluate, or all: hybrid, dense and lexical side by side. "
        "Default: as search.",
        show_default=False,
    ),
]
Exact = Annotated[bool, typer.Option("--exact", help="Also run exact cosine search, and compare.")]


def evaluate(
    queries_file: EvalQueries = None,
    qrels: Qrels = None,
    compare: Compare = None,
    labels_file: LabelsOption = None,
    examples_file: ExamplesOption = None,
    gold: Gold = None,
    method: MethodOption = "centroid",
    any_task: AnyTask = False,
    index_path: IndexPath = None,
    k: Cutoff = 10,
    depth: Depth = 100,
    mode: EvalModeOption = None,
    exact: Exact = False,
    task: TaskOption = None,
    model: ModelOption = None,
    adapter: AdapterOption = None,
    fusion: FusionOption = None,
    alpha: AlphaOption = None,
    fusion_depth: FusionDepth = DEFAULT_FUSION_DEPTH,
    rerank: RerankOption = False,
    rerank_model: RerankModel = DEFAULT_RERANK_MODEL,
    candidates: Candidates = 100,
    fmt: ReportFormat = None,
) -> None:
    """Measure retrieval quality against relevance judgments (nDCG, MRR, Recall, MAP).

    Each measure is the mean over the judged queries with its 95% bootstrap interval; every
    judged query counts: one a run does not answer scores zero (trec_eval -c). With several
    runs (--mode all, --rerank, --exact, --compare), each is compared with the first query
    by query: the mean difference, its interval and a two-sided paired randomization test.
    With --labels (or --examples) and --gold: classification accuracy and macro-F1.
    """
    out_format = REPORT_FORMATS.chosen(fmt)
    if labels_file is not None or examples_file is not None or gold is not None:
        from tasksift.cli.tasks import evaluate_labels

        evaluate_labels(index_path, labels_file, examples_file, gold, method, any_task, out_format)
        return
    if qrels is None or (queries_file is None and compare is None):
        raise typer.BadParameter("give --queries and --qrels, or --labels and --gold")

    from tasksift.evaluate import judged_queries
    from tasksift.output.emit import emit
    from tasksift.output.reports import eval_output
    from tasksift.queries import read_qrels

    judgments = read_qrels(qrels)
    judged = Judged(judgments, judged_queries(list(judgments), judgments), k, depth)
    report: dict[str, Any] = {"queries": len(judged.queries), "unanswered": 0, "k": k,
                              "depth": depth}  # fmt: skip

    def searcher_for(search_mode: SearchMode | None) -> Searcher:
        return open_searcher(
            index_path,
            SearchRequest(task, model, adapter=adapter),
            rerank,
            rerank_model,
            max(candidates, depth),
            mode=search_mode,
            fusion=fusion_of(fusion, alpha, fusion_depth),
        )

    if compare is not None:
        rows = _compared_runs(compare, queries_file, searcher_for, judged, report)
    else:
        every = mode is EvalMode.ALL
        searcher = searcher_for(SearchMode.HYBRID if every else (mode and SearchMode(mode.value)))
        asked = _judged_queries(searcher, queries_file, judged, report)
        if searcher.reranker is not None:
            report["rerank"] = {"model": searcher.reranker.name,
                                "backend": searcher.reranker.backend,
                                "candidates": searcher.candidates}  # fmt: skip
        modes = (
            [SearchMode.HYBRID, SearchMode.DENSE, SearchMode.LEXICAL] if every else [searcher.mode]
        )
        rows = _measured_runs(searcher, asked, judged, modes, exact, report)
    _add_statistics(rows, report)
    emit(eval_output(rows, report), out_format)


def _judged_queries(
    searcher: Searcher, queries_file: str | None, judged: Judged, report: dict[str, Any]
) -> list[Query]:
    """The queries in ``queries_file`` that have judgments (the others are noted)."""
    from tasksift.queries import read_queries

    if queries_file is None:
        raise UsageError("a run made by searching needs --queries")
    batch = read_queries(queries_file)
    report_problems(batch)
    wanted = set(judged.queries)
    asked = [q for q in batch.queries if q.qid in wanted]
    if not asked:
        raise InputError("none of the queries has a relevant document in the judgments")
    note_long_queries(searcher, asked)
    report["unanswered"] = len(judged.queries) - len(asked)
    return asked


def _compared_runs(
    compare: tuple[str, str],
    queries_file: str | None,
    searcher_for: Callable[[SearchMode], Searcher],
    judged: Judged,
    report: dict[str, Any],
) -> list[Scores]:
    """The two runs of ``--compare``, each read from a TREC run file or made by searching."""
    from tasksift.evaluate import to_run
    from tasksift.queries import read_run

    rows, searcher = [], None
    for source in compare:
        if Path(source).is_file():
            run = read_run(Path(source))
            missing = sum(1 for q in judged.queries if q not in run)
            report["unanswered"] = max(report["unanswered"], missing)
        elif source in {m.value for m in SearchMode}:
            searcher = searcher or searcher_for(SearchMode(source))
            asked = _judged_queries(searcher, queries_file, judged, report)
            searcher.mode = SearchMode(source)
            run = to_run(
                [q.qid for q in asked], searcher.search([q.text for q in asked], judged.depth)
            )
        else:
            raise UsageError(
                f"--compare {source}: neither a run file nor a mode (hybrid, dense, lexical)"
            )
        rows.append(judged.measure(source, run))
    return rows


def _add_statistics(rows: list[Scores], report: dict[str, Any]) -> None:
    """Each run's means and intervals, and each later run compared with the first."""
    from dataclasses import asdict

    from tasksift.evaluate import LEVEL, PERMUTATIONS, RESAMPLES, SEED, compare

    report["runs"] = {row.name: row.measures for row in rows}
    report["intervals"] = {row.name: row.intervals for row in rows}
    report["comparisons"] = [
        {"a": c.a, "b": c.b, "measures": {name: asdict(d) for name, d in c.differences.items()}}
        for c in (compare(rows[0], row) for row in rows[1:])
    ]
    report["statistics"] = {"level": LEVEL, "bootstrap_resamples": RESAMPLES,
                            "randomization_permutations": PERMUTATIONS, "seed": SEED}  # fmt: skip


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
