"""The ``tasksift`` command line: parse, call the library, render.

Results go to stdout; progress, warnings and errors go to stderr. Every error a user can
hit is a :class:`~tasksift.errors.TasksiftError`, turned into one line and an exit code in
:func:`main` and nowhere else. Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tasksift import __version__
from tasksift.errors import ExitCode, TasksiftError
from tasksift.output import OutputFormat
from tasksift.prompts import Task

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
    directory: Annotated[Path, typer.Argument(help="Folder of documents to index.")],
    index_path: IndexPath = None,
    task: Annotated[
        Task, typer.Option("--task", "-t", help="Task the prompts are chosen for.")
    ] = Task.RETRIEVAL,
    model: Annotated[
        str, typer.Option("--model", "-m", help="all-MiniLM-L6-v2, a Hugging Face id or a folder.")
    ] = "all-MiniLM-L6-v2",
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
    overlap: Annotated[int, typer.Option(min=0, help="Tokens shared by neighbouring chunks.")] = 32,
    batch_size: Annotated[int, typer.Option(min=1, help="Chunks per model batch.")] = 32,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Allow models that run their own code (Nomic, Jina).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Index the text documents under DIRECTORY for a task."""
    from tasksift.pipeline import IndexOptions, build_index
    from tasksift.progress import reporter_for

    target = index_path if index_path is not None else directory / ".tasksift"
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
    )
    show = not quiet and _stdout_is_terminal() and stderr.is_terminal
    with reporter_for(stderr, show=show, warnings=not quiet) as reporter:
        summary = build_index(directory, target, options, reporter)
    typer.echo(
        f"indexed {summary.documents} documents, {summary.chunks} chunks, "
        f"{summary.skipped} skipped in {summary.seconds:.1f} s "
        f"({summary.chunks_per_second:.1f} chunks/s) -> {summary.index_dir}"
    )


# ----------------------------------------------------------------- search


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    index_path: IndexPath = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Results to return.")] = 10,
    task: TaskOption = None,
    model: ModelOption = None,
    query_prompt: QueryPrompt = None,
    document_prompt: DocumentPrompt = None,
    instruction: Instruction = None,
    chunks: Annotated[
        bool, typer.Option("--chunks", help="Raw chunk hits instead of one hit per document.")
    ] = False,
    rerank: Annotated[bool, typer.Option("--rerank", help="Rescore with a cross-encoder.")] = False,
    rerank_model: Annotated[
        str, typer.Option(help="Cross-encoder: Hugging Face id or local folder.")
    ] = "cross-encoder/ms-marco-MiniLM-L6-v2",
    candidates: Annotated[int, typer.Option(min=1, help="Chunks the reranker rescores.")] = 50,
    fmt: FormatOption = None,
) -> None:
    """Search an index with the query prompt of its task."""
    from tasksift.index import find_index, load_index, read_manifest
    from tasksift.output import choose_format, write_hits
    from tasksift.search import (
        SearchRequest,
        best_per_document,
        check_request,
        encode_queries,
        load_query_embedder,
        nearest_chunks,
        rank_hits,
        top_documents,
    )

    if not query.strip():
        raise typer.BadParameter("the query is empty", param_hint="QUERY")
    index_dir = find_index(index_path)
    manifest = read_manifest(index_dir)
    request = SearchRequest(task, model, query_prompt, document_prompt, instruction)
    check_request(manifest, request, index_dir)
    loaded = load_index(index_dir, manifest)
    reranker = None
    if rerank:
        from tasksift.rerank import load_reranker

        reranker = load_reranker(rerank_model)
    embedder = load_query_embedder(manifest)
    vector = encode_queries(embedder, manifest, [query])[0]
    if reranker is not None:
        reranked = reranker.rerank(query, nearest_chunks(loaded, vector, max(candidates, k)))
        hits = rank_hits(reranked, k) if chunks else best_per_document(reranked, k, "rerank_score")
    elif chunks:
        hits = nearest_chunks(loaded, vector, k)
    else:
        hits = top_documents(loaded, vector, k)
    out_format = choose_format(fmt, _stdout_is_terminal())
    write_hits(sys.stdout, Console(), query, hits, out_format)


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
