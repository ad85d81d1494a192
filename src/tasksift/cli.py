"""The ``tasksift`` command line: parse, call the library, render.

Results go to stdout; progress, warnings and errors go to stderr. Every error a user can
hit is a :class:`~tasksift.errors.TasksiftError`, turned into one line and an exit code in
:func:`main` and nowhere else. Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

from tasksift import __version__
from tasksift.errors import ExitCode, InputError, PartialError, TasksiftError, UsageError
from tasksift.options import (
    CHECKPOINT_DOCUMENTS,
    CHECKPOINT_SECONDS,
    DEFAULT_ALPHA,
    DEFAULT_CANDIDATES,
    DEFAULT_FUSION_DEPTH,
    DEFAULT_RERANK_MODEL,
    DocumentFilter,
    EvalMode,
    FusionMethod,
    OutputFormat,
    SearchMode,
    SearchRequest,
)
from tasksift.prompts import Task

if TYPE_CHECKING:
    from collections.abc import Callable

    from tasksift.evaluate import Scores
    from tasksift.queries import Query, QueryFile
    from tasksift.search.fusion import Fusion
    from tasksift.search.searcher import Searcher


def _flags_show_no_type(option: TyperOption, ctx: typer.Context) -> str | None:
    """Help shows a type beside options that take a value, not beside flags (typer's rich
    help would show ``<bool>`` after ``--rerank``, ``--help`` and the like)."""
    return None if option.is_flag else _option_type(option, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flags_show_no_type  # type: ignore[method-assign]

app = typer.Typer(
    name="tasksift",
    help="Task-aware semantic search over local documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
stderr = Console(stderr=True, highlight=False)

# ----------------------------------------------------------------- shared options

IndexPath = Annotated[
    Path | None,
    typer.Option(
        "--index",
        "-i",
        help="Index folder. Default: for `index`, DIR/.tasksift; for the other commands, the "
        "nearest .tasksift folder from here upward, else $TASKSIFT_INDEX.",
        show_default=False,
    ),
]
TaskOption = Annotated[
    Task | None,
    typer.Option("--task", "-t", help="Task the prompts are chosen for.", show_default=False),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Embedding model: all-MiniLM-L6-v2 (bundled), a Hugging Face id or a local folder.",
        show_default=False,
    ),
]
QueryPrompt = Annotated[
    str | None,
    typer.Option("--query-prompt", help="Text put in front of queries.", show_default=False),
]
DocumentPrompt = Annotated[
    str | None,
    typer.Option("--document-prompt", help="Text put in front of documents.", show_default=False),
]
Instruction = Annotated[
    str | None,
    typer.Option(
        "--instruction",
        help="Task description for instruct-style models (E5 instruct, Qwen3-Embedding).",
        show_default=False,
    ),
]
PathGlobs = Annotated[
    list[str] | None,
    typer.Option(
        "--path",
        help="Only documents whose path matches this glob (repeatable; * spans /).",
        show_default=False,
    ),
]
Types = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        help="Only documents with this extension, e.g. md (repeatable).",
        show_default=False,
    ),
]
AnyTask = Annotated[
    bool,
    typer.Option(
        "--any-task",
        help="Run even on an index built for another task whose prompts differ.",
    ),
]
LabelsOption = Annotated[
    Path | None,
    typer.Option(
        "--labels", help="Labels, one a line: label<TAB>description (zero-shot).",
        show_default=False,
    ),
]  # fmt: skip
ExamplesOption = Annotated[
    Path | None,
    typer.Option(
        "--examples", help="Labelled examples, one a line: label<TAB>text (few-shot).",
        show_default=False,
    ),
]  # fmt: skip
MethodOption = Annotated[
    str,
    typer.Option("--method", help="Few-shot vote: centroid (each label's mean example) or knn."),
]
FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format. Default: table on a terminal, else jsonl.",
        show_default=False,
    ),
]


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tasksift {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Task-aware semantic search over local documents."""


# ----------------------------------------------------------------- index


class IndexEngine(str, Enum):
    """Where `index` reads, chunks and embeds."""

    LOCAL = "local"
    RAY = "ray"


@app.command()
def index(
    corpus: Annotated[
        Path,
        typer.Argument(
            metavar="CORPUS",
            help="Folder of documents, or a BEIR-style corpus.jsonl[.gz] (_id, title, text).",
        ),
    ],
    index_path: IndexPath = None,
    task: Annotated[
        Task | None,
        typer.Option(
            "--task",
            "-t",
            help="Task the prompts are chosen for, and the commands it serves: retrieval "
            "(search), similarity (similar, dupes), clustering (cluster), classification "
            "(classify). New index: retrieval.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="all-MiniLM-L6-v2 (new index default), a Hugging Face id or a local folder.",
            show_default=False,
        ),
    ] = None,
    query_prompt: QueryPrompt = None,
    document_prompt: DocumentPrompt = None,
    instruction: Instruction = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Prompt profile to use instead of the one matched by model name.",
            show_default=False,
        ),
    ] = None,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(
            min=8,
            help="Tokens per chunk. Default: all that fit the model after the document prompt.",
            show_default=False,
        ),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option(
            min=0, help="Tokens shared by neighbouring chunks. New index: 32.", show_default=False
        ),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="Language of the lexical (BM25) side: its stemmer and stopwords, e.g. "
            "english, french, german, or none. New index: english.",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Chunks per model batch.")] = 32,
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code", help="Allow models that run their own code (Nomic, Jina)."
        ),
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build from scratch, with new settings if given.")
    ] = False,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Commit a first run every this many documents. Default: after every "
            f"{CHECKPOINT_SECONDS:.0f} s of work.",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        IndexEngine,
        typer.Option(
            help="local: read, chunk and embed in this process; ray: on a Ray cluster (needs "
            "`pip install tasksift[ray]`; a folder corpus must be at the same path on every node)."
        ),
    ] = IndexEngine.LOCAL,
    address: Annotated[
        str | None,
        typer.Option(
            help="With --engine ray: the cluster, e.g. ray://head:10001 or auto. Default: a "
            "local Ray instance.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Index CORPUS (a folder or a .jsonl[.gz] file) for a task, or update its index.

    On an existing index only new and changed documents are embedded and removed ones are
    dropped; the settings are the index's, and asking for others needs --rebuild.

    The task decides the prompts the vectors are made with, and so the command they serve:
    --task retrieval for `tasksift search "question"`; --task similarity for `tasksift
    similar notes/a.md` and `tasksift dupes`; --task clustering for `tasksift cluster -n 8`;
    --task classification for `tasksift classify --labels labels.tsv`.
    """
    from tasksift.pipeline import IndexOptions, build_index
    from tasksift.progress import reporter_for

    default_home = corpus.parent if corpus.is_file() else corpus
    target = index_path if index_path is not None else default_home / ".tasksift"
    options = IndexOptions(
        model=model,
        task=task,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        instruction=instruction,
        profile=profile,
        chunk_tokens=chunk_tokens,
        overlap=overlap,
        language=language,
        trust_remote_code=trust_remote_code,
        batch_size=batch_size,
        rebuild=rebuild,
        checkpoint_documents=checkpoint_every or CHECKPOINT_DOCUMENTS,
        checkpoint_seconds=0.0 if checkpoint_every else CHECKPOINT_SECONDS,
    )
    runner = None
    if engine is IndexEngine.RAY:
        from tasksift.pipeline.ray_engine import RayEngine

        runner = RayEngine(address)
    elif address is not None:
        raise UsageError("--address needs --engine ray")
    show = not quiet and _stdout_is_terminal() and stderr.is_terminal
    with reporter_for(stderr, show=show, warnings=not quiet) as reporter:
        s = build_index(corpus, target, options, reporter, runner)
    if s.lexical_added and not quiet:
        stderr.print(
            f"note: added the lexical (BM25) side from the {s.chunks} stored chunks; nothing "
            "was embedded again",
            soft_wrap=True,
        )
    typer.echo(
        f"indexed {s.documents} documents ({s.added} added, {s.changed} changed, {s.removed} "
        f"removed, {s.unchanged} unchanged), {s.chunks} chunks, {s.embedded} embedded, "
        f"{s.skipped} skipped in {s.seconds:.1f} s ({s.chunks_per_second:.1f} chunks/s) "
        f"-> {s.index_dir}"
    )


# ----------------------------------------------------------------- search


RerankOption = Annotated[
    bool,
    typer.Option(
        "--rerank",
        help="Rescore the first stage's best chunks with a cross-encoder (exported to ONNX "
        "on first use, then run without torch).",
    ),
]
RerankModel = Annotated[str, typer.Option(help="Cross-encoder: Hugging Face id or local folder.")]
Candidates = Annotated[
    int,
    typer.Option(
        min=1,
        help="Chunks the reranker rescores per query; each costs about 20-30 ms on 2 CPU cores "
        "(256 tokens, MiniLM-L6-sized).",
    ),
]
ModeOption = Annotated[
    SearchMode | None,
    typer.Option(
        "--mode",
        help="hybrid: dense and lexical (BM25) fused, the default when the index has a "
        "lexical side; dense or lexical alone.",
        show_default=False,
    ),
]
FusionOption = Annotated[
    FusionMethod,
    typer.Option(
        "--fusion",
        help="How hybrid fuses: convex (alpha * dense + (1 - alpha) * lexical, min-max "
        "normalized) or rrf (reciprocal rank fusion).",
    ),
]
AlphaOption = Annotated[
    float,
    typer.Option("--alpha", min=0.0, max=1.0, help="Weight of the dense side in convex fusion."),
]
FusionDepth = Annotated[
    int,
    typer.Option("--fusion-depth", min=1, help="Candidates each retriever gives hybrid fusion."),
]
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


def _fusion(method: FusionMethod, alpha: float, depth: int) -> Fusion:
    from tasksift.search.fusion import Fusion

    return Fusion(method=method, alpha=alpha, depth=depth)


def _open_searcher(
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
    for note in searcher.notes:
        _note(note)
    return searcher


def _note(message: str) -> None:
    stderr.print(f"[dim]note:[/] {escape(message)}", soft_wrap=True)


def _note_long_queries(searcher: Searcher, queries: list[Query]) -> None:
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
    _note(
        f"{where} than the {limit} the model reads: the dense side uses the first {limit}{lexical}"
    )


def _report_problems(batch: QueryFile) -> None:
    for problem in sorted(batch.problems, key=lambda p: int(p.split()[1].rstrip(":"))):
        stderr.print(f"[yellow]skipped[/] {escape(problem)}", soft_wrap=True)


@app.command()
def search(
    query: Annotated[
        str | None, typer.Argument(help="What to search for.", show_default=False)
    ] = None,
    queries_file: QueriesOption = None,
    index_path: IndexPath = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Results per query.")] = 10,
    task: TaskOption = None,
    model: ModelOption = None,
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
    fmt: FormatOption = None,
) -> None:
    """Search an index with the query prompt of its task: one QUERY, or a file of them.

    Hybrid by default: the dense (vector) and lexical (BM25) results fused.
    """
    from tasksift.output import choose_format, write_batch, write_hits
    from tasksift.queries import describe_skipped, read_queries

    if (query is None) == (queries_file is None):
        raise typer.BadParameter("give either a QUERY or --queries FILE")
    if query is not None and not query.strip():
        raise typer.BadParameter("the query is empty", param_hint="QUERY")
    batch = read_queries(queries_file) if queries_file is not None else None
    request = SearchRequest(task, model, query_prompt, document_prompt, instruction)
    searcher = _open_searcher(
        index_path,
        request,
        rerank,
        rerank_model,
        candidates,
        mode=mode,
        fusion=_fusion(fusion, alpha, fusion_depth),
        explain=explain,
    )
    where = DocumentFilter(tuple(path_globs or ()), tuple(types or ()))
    out_format = choose_format(fmt, _stdout_is_terminal())
    if batch is None:
        from tasksift.queries import Query

        _note_long_queries(searcher, [Query("1", query, 1)])
        hits = searcher.search(
            [query], k, chunks=chunks, where=where, explain=explain, per_doc=per_doc
        )[0]
        write_hits(sys.stdout, Console(), query, hits, out_format)
        return
    _report_problems(batch)
    _note_long_queries(searcher, batch.queries)
    texts = [q.text for q in batch.queries]
    results = (
        searcher.search(texts, k, chunks, where=where, explain=explain, per_doc=per_doc)
        if texts
        else []
    )
    triples = [(q.qid, q.text, hits) for q, hits in zip(batch.queries, results, strict=True)]
    write_batch(sys.stdout, Console(), triples, out_format)
    if batch.problems:
        raise PartialError(f"{describe_skipped(batch.problems)}; the others were answered")


# ----------------------------------------------------------------- eval


@app.command(name="eval")
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
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            metavar="RUN_A RUN_B",
            help="Compare two runs query by query: each a TREC run file or a mode (hybrid, "
            "dense, lexical; these need --queries). Reports RUN_B - RUN_A with a paired "
            "randomization test.",
            show_default=False,
        ),
    ] = None,
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
    fusion: FusionOption = FusionMethod.CONVEX,
    alpha: AlphaOption = DEFAULT_ALPHA,
    fusion_depth: FusionDepth = DEFAULT_FUSION_DEPTH,
    rerank: RerankOption = False,
    rerank_model: RerankModel = DEFAULT_RERANK_MODEL,
    candidates: Candidates = 100,
    fmt: FormatOption = None,
) -> None:
    """Measure retrieval quality against relevance judgments (nDCG, MRR, Recall, MAP).

    Each measure is the mean over the judged queries with its 95% bootstrap interval; every
    judged query counts: one a run does not answer scores zero (trec_eval -c). With several
    runs (--mode all, --rerank, --exact, --compare), each is compared with the first query
    by query: the mean difference, its interval and a two-sided paired randomization test.
    With --labels (or --examples) and --gold: classification accuracy and macro-F1.
    """
    if labels_file is not None or examples_file is not None or gold is not None:
        from tasksift.cli_tasks import evaluate_labels

        evaluate_labels(index_path, labels_file, examples_file, gold, method, any_task, fmt)
        return
    if qrels is None or (queries_file is None and compare is None):
        raise typer.BadParameter("give --queries and --qrels, or --labels and --gold")
    from tasksift.evaluate import judged_queries
    from tasksift.queries import read_qrels

    judgments = read_qrels(qrels)
    judged = judged_queries(list(judgments), judgments)
    report: dict[str, object] = {"queries": len(judged), "unanswered": 0, "k": k, "depth": depth}

    def open_searcher(search_mode: SearchMode | None) -> Searcher:
        fused = _fusion(fusion, alpha, fusion_depth)
        request, pool = SearchRequest(task, model), max(candidates, depth)
        return _open_searcher(index_path, request, rerank, rerank_model, pool, search_mode, fused)

    if compare is not None:
        rows = _compared_runs(compare, queries_file, open_searcher, judgments, judged, report)
    else:
        every = mode is EvalMode.ALL
        searcher = open_searcher(SearchMode.HYBRID if every else (mode and SearchMode(mode.value)))
        modes = [SearchMode.HYBRID, SearchMode.DENSE, SearchMode.LEXICAL] if every else None
        rows = _searched_runs(searcher, queries_file, modes, exact, judgments, judged, report)
    _show_evaluation(rows, report, fmt)


def _searched_runs(
    searcher: Searcher,
    queries_file: str,
    modes: list[SearchMode] | None,
    exact: bool,
    judgments: dict[str, dict[str, int]],
    judged: list[str],
    report: dict[str, object],
) -> list[Scores]:
    """The evaluation rows of each mode (with its reranked and exact runs)."""
    from tasksift.evaluate import measure, overlap_at_k, to_run

    qids, texts = _judged_texts(searcher, queries_file, judged, report)
    k, depth = report["k"], report["depth"]
    reranker, rows = searcher.reranker, []
    if reranker is not None:
        report["rerank"] = {"model": reranker.name, "backend": reranker.backend,
                            "candidates": searcher.candidates}  # fmt: skip
    for each in modes or [searcher.mode]:
        searcher.mode, searcher.reranker = each, None
        run = to_run(qids, searcher.search(texts, depth))
        rows.append(measure(each.value, run, judgments, judged, k, depth))
        if reranker is not None:  # the same first stage reranked, side by side
            searcher.reranker = reranker
            reranked = to_run(qids, searcher.search(texts, depth))
            rows.append(measure(f"{each.value} + rerank", reranked, judgments, judged, k, depth))
            searcher.reranker = None
        if exact and each is not SearchMode.LEXICAL:  # BM25 scoring is exact already
            exact_run = to_run(qids, searcher.search(texts, depth, exact=True))
            rows.append(measure(f"{each.value} exact", exact_run, judgments, judged, k, depth))
            report.setdefault(f"ann_recall@{k}_vs_exact", overlap_at_k(run, exact_run, k))
    return rows


def _judged_texts(
    searcher: Searcher, queries_file: str | None, judged: list[str], report: dict[str, object]
) -> tuple[list[str], list[str]]:
    """Ids and texts of the queries in ``queries_file`` that have judgments."""
    from tasksift.queries import read_queries

    if queries_file is None:
        raise UsageError("a run made by searching needs --queries")
    batch = read_queries(queries_file)
    _report_problems(batch)
    wanted = set(judged)
    asked = [q for q in batch.queries if q.qid in wanted]
    if not asked:
        raise InputError("none of the queries has a relevant document in the judgments")
    _note_long_queries(searcher, asked)
    report["unanswered"] = len(judged) - len(asked)
    return [q.qid for q in asked], [q.text for q in asked]


def _compared_runs(
    compare: tuple[str, str],
    queries_file: str | None,
    open_searcher: Callable[[SearchMode], Searcher],
    judgments: dict[str, dict[str, int]],
    judged: list[str],
    report: dict[str, object],
) -> list[Scores]:
    """The two runs of ``--compare``, read from TREC files or made by searching."""
    from tasksift.evaluate import measure, to_run
    from tasksift.queries import read_run

    k, depth = report["k"], report["depth"]
    rows, searcher = [], None
    for source in compare:
        if Path(source).is_file():
            run = read_run(Path(source))
            missing = sum(1 for q in judged if q not in run)
            report["unanswered"] = max(report["unanswered"], missing)
        elif source in {m.value for m in SearchMode}:
            searcher = searcher or open_searcher(SearchMode(source))
            qids, texts = _judged_texts(searcher, queries_file, judged, report)
            searcher.mode = SearchMode(source)
            run = to_run(qids, searcher.search(texts, depth))
        else:
            raise UsageError(
                f"--compare {source}: neither a run file nor a mode (hybrid, dense, lexical)"
            )
        rows.append(measure(source, run, judgments, judged, k, depth))
    return rows


def _show_evaluation(rows: list[Scores], report: dict[str, object], fmt: OutputFormat) -> None:
    """The rows, and each later row compared with the first, as a table or JSON."""
    import json

    from tasksift.evaluate import LEVEL, PERMUTATIONS, RESAMPLES, SEED, compare
    from tasksift.output import choose_format, comparison_table, eval_table

    comparisons = [compare(rows[0], row) for row in rows[1:]]
    report["runs"] = {row.name: row.measures for row in rows}
    report["intervals"] = {row.name: row.intervals for row in rows}
    report["comparisons"] = [
        {"a": c.a, "b": c.b, "measures": {name: asdict(d) for name, d in c.differences.items()}}
        for c in comparisons
    ]
    report["statistics"] = {"level": LEVEL, "bootstrap_resamples": RESAMPLES,
                            "randomization_permutations": PERMUTATIONS, "seed": SEED}  # fmt: skip
    if choose_format(fmt, _stdout_is_terminal()) is OutputFormat.TABLE:
        console = Console()
        console.print(eval_table(rows, report))
        if comparisons:
            console.print(comparison_table(comparisons))
    else:
        typer.echo(json.dumps(report, indent=2))


# ----------------------------------------------------------------- info, models


@app.command()
def info(index_path: IndexPath = None, fmt: FormatOption = None) -> None:
    """Show an index's model, task, prompts, counts and sizes."""
    import json

    from tasksift.guard import task_support
    from tasksift.index.generations import find_index, index_size_on_disk
    from tasksift.index.reader import read_manifest
    from tasksift.output import choose_format, info_table, manifest_record

    index_dir = find_index(index_path)
    manifest = read_manifest(index_dir)
    record = manifest_record(manifest, str(index_dir), index_size_on_disk(index_dir))
    record["serves"] = {"search": f"runs: built for {manifest.task.value}"}
    record["serves"] |= task_support(manifest, index_dir)
    if choose_format(fmt, _stdout_is_terminal()) is OutputFormat.TABLE:
        Console().print(info_table(record))
    else:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2))


@app.command()
def models(fmt: FormatOption = None) -> None:
    """List the built-in prompt profiles and their prompts per task."""
    import json

    from tasksift.output import choose_format, models_records, models_table

    if choose_format(fmt, _stdout_is_terminal()) is OutputFormat.TABLE:
        Console().print(models_table())
    else:
        typer.echo(json.dumps(models_records(), ensure_ascii=False, indent=2))


# ----------------------------------------------------------------- entry point


def _print_error(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    stderr.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the one place where errors become messages and exit codes."""
    try:
        result = app(args=argv, prog_name="tasksift", standalone_mode=False)
        code = result if isinstance(result, int) else ExitCode.OK
    except PartialError as exc:
        stderr.print(f"[yellow]warning:[/] {escape(str(exc))}", soft_wrap=True)
        code = exc.exit_code
    except TasksiftError as exc:
        _print_error(str(exc))
        code = exc.exit_code
    except typer.TyperException as exc:  # typer's own click: usage errors and the like
        message = exc.format_message().replace("Value error, ", "")
        ctx = getattr(exc, "ctx", None)
        if message:  # empty when typer has already shown the help
            _print_error(message + (f" (see `{ctx.command_path} --help`)" if ctx else ""))
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("interrupted")
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        code = ExitCode.OK
    sys.exit(int(code))


from tasksift import cli_tasks  # noqa: E402, F401  (registers the task commands on ``app``)


def _reflowed(doc: str) -> str:
    """A docstring as help: each paragraph on one line, so that help reflows at any width
    (typer keeps a docstring's single line breaks in later paragraphs)."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


for _command in app.registered_commands:
    if _command.help is None and _command.callback is not None and _command.callback.__doc__:
        _command.help = _reflowed(_command.callback.__doc__)
