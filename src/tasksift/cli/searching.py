"""``tasksift search``: one query or a file of them, with the query prompt of the index's task.

``open_searcher`` and ``note_long_queries`` serve ``eval`` too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tasksift.cli.console import note, report_problems, stdout
from tasksift.cli.options import (
    SEARCH_FORMATS,
    AdapterOption,
    AlphaOption,
    Candidates,
    DocumentPrompt,
    FusionDepth,
    FusionOption,
    IndexPath,
    Instruction,
    MinRelevance,
    ModelOption,
    ModeOption,
    PathGlobs,
    QueryPrompt,
    RerankModel,
    RerankOption,
    SearchFormat,
    TaskOption,
    Types,
)
from tasksift.errors import PartialError, UsageError
from tasksift.options import (
    DEFAULT_ALPHA,
    DEFAULT_CANDIDATES,
    DEFAULT_FUSION_DEPTH,
    DEFAULT_RERANK_MODEL,
    FusionMethod,
    SearchMode,
    SearchRequest,
)

if TYPE_CHECKING:
    from tasksift.queries import Query, QueryFile
    from tasksift.search.fusion import Fusion
    from tasksift.search.searcher import Searcher


def register(app: typer.Typer) -> None:
    app.command()(search)


ExplainOption = Annotated[
    bool,
    typer.Option(
        "--explain",
        help="Show each hit's dense and lexical rank and score, the fused score, the query "
        "words that matched and, with --rerank, its place before reranking.",
    ),
]
QueriesOption = Annotated[
    str | None,
    typer.Option(
        "--queries",
        "-Q",
        help="File of queries (- for stdin): one a line, id<TAB>query, or JSON Lines with _id "
        "and text.",
        show_default=False,
    ),
]


def fusion_choice(method: FusionMethod | None, alpha: float | None) -> tuple[FusionMethod, float]:
    """``--fusion`` and ``--alpha``: adaptive unless either asks otherwise (no numpy here:
    a search through the service imports none)."""
    if method is FusionMethod.ADAPTIVE and alpha is not None:
        raise UsageError("--alpha fixes the weight; adaptive fusion sets it per query")
    if method is None:
        method = FusionMethod.ADAPTIVE if alpha is None else FusionMethod.CONVEX
    return method, DEFAULT_ALPHA if alpha is None else alpha


def fusion_of(method: FusionMethod | None, alpha: float | None, depth: int) -> Fusion:
    """The ``Fusion`` that ``--fusion`` and ``--alpha`` ask for."""
    from tasksift.search.fusion import Fusion

    chosen, weight = fusion_choice(method, alpha)
    return Fusion(method=chosen, alpha=weight, depth=depth)


def open_searcher(
    index_path: Path | None,
    request: SearchRequest,
    rerank: bool,
    rerank_model: str,
    candidates: int,
    mode: SearchMode | None = None,
    fusion: Fusion | None = None,
    explain: bool = False,
) -> Searcher:
    from tasksift.index.location import find_index
    from tasksift.search.searcher import Searcher

    searcher = Searcher.open(
        find_index(index_path),
        request,
        mode=mode,
        fusion=fusion,
        rerank_model=rerank_model if rerank else None,
        candidates=candidates,
        explain=explain,
    )
    for message in searcher.notes:
        note(message)
    return searcher


def note_long_queries(searcher: Searcher, queries: list[Query]) -> None:
    """One note for the queries the dense side reads only the start of; all are answered."""
    from tasksift.serve.answer import long_query_note

    message = long_query_note(searcher, queries)
    if message:
        note(message)


def search(
    query: Annotated[
        str | None, typer.Argument(help="What to search for.", show_default=False)
    ] = None,
    queries_file: QueriesOption = None,
    index_path: IndexPath = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Results per query.")] = 10,
    task: TaskOption = None,
    model: ModelOption = None,
    adapter: AdapterOption = None,
    query_prompt: QueryPrompt = None,
    document_prompt: DocumentPrompt = None,
    instruction: Instruction = None,
    chunks: Annotated[
        bool, typer.Option("--chunks", help="Raw chunk hits instead of one hit per document.")
    ] = False,
    per_doc: Annotated[
        int,
        typer.Option(
            "--per-doc",
            min=1,
            help="Up to this many best chunks of each document, each with its location.",
        ),
    ] = 1,
    path_globs: PathGlobs = None,
    types: Types = None,
    mode: ModeOption = None,
    explain: ExplainOption = False,
    fusion: FusionOption = None,
    alpha: AlphaOption = None,
    fusion_depth: FusionDepth = DEFAULT_FUSION_DEPTH,
    rerank: RerankOption = False,
    rerank_model: RerankModel = DEFAULT_RERANK_MODEL,
    candidates: Candidates = DEFAULT_CANDIDATES,
    min_relevance: MinRelevance = None,
    fmt: SearchFormat = None,
    no_server: Annotated[
        bool,
        typer.Option("--no-server", help="Search in this process even when `tasksift serve` runs."),
    ] = False,
) -> None:
    """Search an index with the query prompt of its task: one QUERY, or a file of them.

    Hybrid by default: the dense (vector) and lexical (BM25) results fused, with a weight
    set per query; each hit carries its estimated relevance in [0, 1]. When `tasksift
    serve` serves the index, the command runs there (warm) and prints the same.
    """
    from tasksift.index.location import find_index
    from tasksift.queries import read_queries
    from tasksift.serve.answer import SearchArgs, answer
    from tasksift.serve.answer import open_searcher as open_for

    out_format = SEARCH_FORMATS.chosen(fmt)
    if (query is None) == (queries_file is None):
        raise typer.BadParameter("give either a QUERY or --queries FILE")
    if query is not None and not query.strip():
        raise typer.BadParameter("the query is empty", param_hint="QUERY")
    batch = read_queries(queries_file) if queries_file is not None else None
    fusion_method, fusion_alpha = fusion_choice(fusion, alpha)
    args = SearchArgs(
        str(find_index(index_path)),
        [("1", query, 1)] if batch is None else [(q.qid, q.text, q.line) for q in batch.queries],
        batch is None, k, out_format.value,
        task and task.value, model, query_prompt, document_prompt, instruction, chunks, per_doc,
        tuple(path_globs or ()), tuple(types or ()), mode and mode.value, explain,
        fusion_method.value, fusion_alpha, fusion_depth, rerank_model if rerank else None,
        candidates, min_relevance, adapter,
    )  # fmt: skip
    searcher = open_for(args)
    for message in searcher.notes:
        note(message)
    if batch is not None:
        report_problems(batch)
    console = stdout()
    answer(searcher, args, console.file, console, note)
    _raise_on_skipped(batch)


def _raise_on_skipped(batch: QueryFile | None) -> None:
    """Exit 8 (partial) when lines of the queries file were skipped; the others were answered."""
    from tasksift.queries import describe_skipped

    if batch is not None and batch.problems:
        raise PartialError(f"{describe_skipped(batch.problems)}; the others were answered")
