"""``tasksift search``: one query or a file of them, with the query prompt of the index's task.

``open_searcher`` and ``note_long_queries`` serve ``eval`` too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tasksift.cli.console import note, report_problems
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
    ModelOption,
    ModeOption,
    PathGlobs,
    QueryPrompt,
    RerankModel,
    RerankOption,
    SearchFormat,
    TaskOption,
    Types,
    document_filter,
)
from tasksift.errors import PartialError
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
    from tasksift.queries import Query
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


def fusion_of(method: FusionMethod, alpha: float, depth: int) -> Fusion:
    from tasksift.search.fusion import Fusion

    return Fusion(method=method, alpha=alpha, depth=depth)


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
    from tasksift.index.generations import find_index
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
    long = [(q, n) for q in queries if (n := searcher.overlong(q.text)) is not None]
    if not long:
        return
    limit = searcher.manifest.model.max_seq_length
    lines = ", ".join(str(q.line) for q, _ in long[:5]) + (" ..." if len(long) > 5 else "")
    if len(queries) == 1:
        where = f"the query is {long[0][1]} tokens, longer"
    elif len(long) == 1:
        where = f"1 query (line {lines}) is longer"
    else:
        where = f"{len(long)} queries (lines {lines}) are longer"
    lexical = "; the lexical side reads all of it" if searcher.index.lexical else ""
    note(
        f"{where} than the {limit} the model reads: the dense side uses the first {limit}{lexical}"
    )


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
    fusion: FusionOption = FusionMethod.CONVEX,
    alpha: AlphaOption = DEFAULT_ALPHA,
    fusion_depth: FusionDepth = DEFAULT_FUSION_DEPTH,
    rerank: RerankOption = False,
    rerank_model: RerankModel = DEFAULT_RERANK_MODEL,
    candidates: Candidates = DEFAULT_CANDIDATES,
    fmt: SearchFormat = None,
) -> None:
    """Search an index with the query prompt of its task: one QUERY, or a file of them.

    Hybrid by default: the dense (vector) and lexical (BM25) results fused.
    """
    from tasksift.output.emit import emit
    from tasksift.output.hits import batch_output, hits_output
    from tasksift.queries import describe_skipped, read_queries

    out_format = SEARCH_FORMATS.chosen(fmt)

    if (query is None) == (queries_file is None):
        raise typer.BadParameter("give either a QUERY or --queries FILE")
    if query is not None and not query.strip():
        raise typer.BadParameter("the query is empty", param_hint="QUERY")
    batch = read_queries(queries_file) if queries_file is not None else None
    request = SearchRequest(task, model, query_prompt, document_prompt, instruction, adapter)
    searcher = open_searcher(
        index_path,
        request,
        rerank,
        rerank_model,
        candidates,
        mode=mode,
        fusion=fusion_of(fusion, alpha, fusion_depth),
        explain=explain,
    )
    where = document_filter(path_globs, types)
    if batch is None:
        from tasksift.queries import Query

        note_long_queries(searcher, [Query("1", query, 1)])
        hits = searcher.search(
            [query], k, chunks=chunks, where=where, explain=explain, per_doc=per_doc
        )[0]
        emit(hits_output(query, hits), out_format)
        return
    report_problems(batch)
    note_long_queries(searcher, batch.queries)
    texts = [q.text for q in batch.queries]
    results = (
        searcher.search(texts, k, chunks, where=where, explain=explain, per_doc=per_doc)
        if texts
        else []
    )
    triples = [(q.qid, q.text, hits) for q, hits in zip(batch.queries, results, strict=True)]
    emit(batch_output(triples), out_format)
    if batch.problems:
        raise PartialError(f"{describe_skipped(batch.problems)}; the others were answered")
