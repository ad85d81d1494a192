"""The ``tasksift`` command line: parse, call the library, render.

Results go to stdout; progress, warnings and errors go to stderr. Every error a user can
hit is a :class:`~tasksift.errors.TasksiftError`, turned into one line and an exit code in
:func:`main` and nowhere else. Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tasksift import __version__
from tasksift.errors import ExitCode, InputError, PartialError, TasksiftError
from tasksift.options import (
    CHECKPOINT_DOCUMENTS,
    DEFAULT_CANDIDATES,
    DEFAULT_RERANK_MODEL,
    DocumentFilter,
    OutputFormat,
    SearchRequest,
)
from tasksift.prompts import Task

if TYPE_CHECKING:
    from tasksift.queries import Query, QueryFile
    from tasksift.search import Searcher

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
            help="Task the prompts are chosen for. New index: retrieval.",
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
    batch_size: Annotated[int, typer.Option(min=1, help="Chunks per model batch.")] = 32,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Allow models that run their own code (Nomic, Jina).")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build from scratch, with new settings if given.")
    ] = False,
    checkpoint_every: Annotated[
        int,
        typer.Option(min=1, help="Commit the new vectors every this many documents."),
    ] = CHECKPOINT_DOCUMENTS,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Index CORPUS (a folder or a .jsonl[.gz] file) for a task, or update its index.

    On an existing index only new and changed documents are embedded and removed ones are
    dropped; the settings are the index's, and asking for others needs --rebuild.
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
        trust_remote_code=trust_remote_code,
        batch_size=batch_size,
        rebuild=rebuild,
        checkpoint_documents=checkpoint_every,
    )
    show = not quiet and _stdout_is_terminal() and stderr.is_terminal
    with reporter_for(stderr, show=show, warnings=not quiet) as reporter:
        s = build_index(corpus, target, options, reporter)
    typer.echo(
        f"indexed {s.documents} documents ({s.added} added, {s.changed} changed, {s.removed} "
        f"removed, {s.unchanged} unchanged), {s.chunks} chunks, {s.embedded} embedded, "
        f"{s.skipped} skipped in {s.seconds:.1f} s ({s.chunks_per_second:.1f} chunks/s) "
        f"-> {s.index_dir}"
    )


# ----------------------------------------------------------------- search


RerankOption = Annotated[
    bool, typer.Option("--rerank", help="Rescore the nearest chunks with a cross-encoder.")
]
RerankModel = Annotated[str, typer.Option(help="Cross-encoder: Hugging Face id or local folder.")]
Candidates = Annotated[int, typer.Option(min=1, help="Chunks the reranker rescores per query.")]
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


def _open_searcher(
    index_path: Path | None,
    request: SearchRequest,
    rerank: bool,
    rerank_model: str,
    candidates: int,
) -> Searcher:
    from tasksift.index import find_index
    from tasksift.search import Searcher

    searcher = Searcher.open(
        find_index(index_path), request, rerank_model if rerank else None, candidates
    )
    for note in searcher.notes:
        stderr.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True)
    return searcher


def _usable_queries(searcher: Searcher, batch: QueryFile) -> list[Query]:
    """Queries that fit the model; the others join ``batch.problems``, which are reported."""
    usable = []
    for query in batch.queries:
        tokens = searcher.overlong(query.text)
        if tokens is None:
            usable.append(query)
        else:
            limit = searcher.manifest.model.max_seq_length
            batch.problems.append(f"line {query.line}: query of {tokens} tokens (at most {limit})")
    for problem in sorted(batch.problems, key=lambda p: int(p.split()[1].rstrip(":"))):
        stderr.print(f"[yellow]skipped[/] {escape(problem)}", soft_wrap=True)
    return usable


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
    path_globs: Annotated[
        list[str] | None,
        typer.Option(
            "--path",
            help="Only documents whose path matches this glob (repeatable; * spans /).",
            show_default=False,
        ),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            help="Only documents with this extension, e.g. md (repeatable).",
            show_default=False,
        ),
    ] = None,
    rerank: RerankOption = False,
    rerank_model: RerankModel = DEFAULT_RERANK_MODEL,
    candidates: Candidates = DEFAULT_CANDIDATES,
    fmt: FormatOption = None,
) -> None:
    """Search an index with the query prompt of its task: one QUERY, or a file of them."""
    from tasksift.output import choose_format, write_batch, write_hits
    from tasksift.queries import describe_skipped, read_queries

    if (query is None) == (queries_file is None):
        raise typer.BadParameter("give either a QUERY or --queries FILE")
    if query is not None and not query.strip():
        raise typer.BadParameter("the query is empty", param_hint="QUERY")
    batch = read_queries(queries_file) if queries_file is not None else None
    request = SearchRequest(task, model, query_prompt, document_prompt, instruction)
    searcher = _open_searcher(index_path, request, rerank, rerank_model, candidates)
    where = DocumentFilter(tuple(path_globs or ()), tuple(types or ()))
    out_format = choose_format(fmt, _stdout_is_terminal())
    if batch is None:
        tokens = searcher.overlong(query)
        if tokens is not None:
            raise InputError(
                f"the query is {tokens} tokens with its prompt; the model reads at most "
                f"{searcher.manifest.model.max_seq_length}: shorten it"
            )
        hits = searcher.search([query], k, chunks=chunks, where=where)[0]
        write_hits(sys.stdout, Console(), query, hits, out_format)
        return
    usable = _usable_queries(searcher, batch)
    texts = [q.text for q in usable]
    results = searcher.search(texts, k, chunks=chunks, where=where) if usable else []
    triples = [(q.qid, q.text, hits) for q, hits in zip(usable, results, strict=True)]
    write_batch(sys.stdout, Console(), triples, out_format)
    if batch.problems:
        raise PartialError(f"{describe_skipped(batch.problems)}; the others were answered")


# ----------------------------------------------------------------- eval


@app.command(name="eval")
def evaluate(
    queries_file: Annotated[
        str, typer.Option("--queries", "-Q", help="Queries (as for search --queries).")
    ],
    qrels: Annotated[
        Path, typer.Option(help="Judgments: TREC (qid 0 docid rel) or BEIR TSV with header.")
    ],
    index_path: IndexPath = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Cutoff of nDCG@k and MRR@k.")] = 10,
    depth: Annotated[
        int, typer.Option(min=1, help="Documents retrieved per query (Recall@depth, MAP).")
    ] = 100,
    exact: Annotated[
        bool, typer.Option("--exact", help="Also run exact cosine search, and compare.")
    ] = False,
    task: TaskOption = None,
    model: ModelOption = None,
    rerank: RerankOption = False,
    rerank_model: RerankModel = DEFAULT_RERANK_MODEL,
    candidates: Candidates = 100,
    fmt: FormatOption = None,
) -> None:
    """Measure retrieval quality against relevance judgments (nDCG, MRR, Recall, MAP)."""
    import json

    from tasksift.evaluate import judged_queries, measure, overlap_at_k, to_run
    from tasksift.output import choose_format, eval_table
    from tasksift.queries import read_qrels, read_queries

    judgments = read_qrels(qrels)
    batch = read_queries(queries_file)
    request = SearchRequest(task, model)
    searcher = _open_searcher(index_path, request, rerank, rerank_model, max(candidates, depth))
    usable = _usable_queries(searcher, batch)
    qids = judged_queries([q.qid for q in usable], judgments)
    if not qids:
        raise InputError("none of the queries has a relevant document in the judgments")
    texts = [q.text for q in usable if q.qid in set(qids)]
    run = to_run(qids, searcher.search(texts, depth))
    rows = [measure("reranked" if rerank else "ANN (hnsw)", run, judgments, qids, k, depth)]
    report: dict[str, object] = {"queries": len(qids), "k": k, "depth": depth}
    if exact:
        dense = run
        if rerank:  # compare the dense searches, without the reranker
            searcher.reranker = None
            dense = to_run(qids, searcher.search(texts, depth))
        exact_run = to_run(qids, searcher.search(texts, depth, exact=True))
        rows.append(measure("exact", exact_run, judgments, qids, k, depth))
        report[f"ann_recall@{k}_vs_exact"] = overlap_at_k(dense, exact_run, k)
    report["runs"] = {row.name: row.measures for row in rows}
    if choose_format(fmt, _stdout_is_terminal()) is OutputFormat.TABLE:
        Console().print(eval_table(rows, report))
    else:
        typer.echo(json.dumps(report, indent=2))


# ----------------------------------------------------------------- info, models


@app.command()
def info(index_path: IndexPath = None, fmt: FormatOption = None) -> None:
    """Show an index's model, task, prompts, counts and sizes."""
    import json

    from tasksift.index import find_index, index_size_on_disk, read_manifest
    from tasksift.output import choose_format, info_table, manifest_record

    index_dir = find_index(index_path)
    manifest = read_manifest(index_dir)
    record = manifest_record(manifest, str(index_dir), index_size_on_disk(index_dir))
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
