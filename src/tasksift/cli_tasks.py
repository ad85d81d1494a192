"""The task commands of the ``tasksift`` command line: similar, dupes, cluster, classify.

Each serves one task and goes through the guard (``tasks.guard``) before it loads anything
heavy. They are registered on ``cli.app`` when ``cli`` is imported; errors are
``TasksiftError``s, turned into a line and an exit code by ``cli.main`` like the others.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from tasksift.cli import FormatOption, IndexPath, app, stderr
from tasksift.errors import InputError
from tasksift.options import DocumentFilter, OutputFormat
from tasksift.prompts import Task

if TYPE_CHECKING:
    from tasksift.index import LoadedIndex

AnyTask = Annotated[
    bool,
    typer.Option(
        "--any-task",
        help="Run even on an index built for another task whose prompts differ.",
    ),
]
ExplainGuard = Annotated[
    bool, typer.Option("--explain", help="Say why this index's vectors suit the command.")
]
PathGlobs = Annotated[
    list[str] | None,
    typer.Option("--path", help="Only documents whose path matches this glob (repeatable).",
                 show_default=False),
]  # fmt: skip
Types = Annotated[
    list[str] | None,
    typer.Option("--type", help="Only documents with this extension (repeatable).",
                 show_default=False),
]  # fmt: skip


def _open(
    index_path: Path | None, task: Task, command: str, any_task: bool, explain: bool
) -> LoadedIndex:
    """The index, once the guard lets ``command`` run on it: a refusal comes before numpy,
    pyarrow or a model is imported, so callers import those after this."""
    from tasksift.index import find_index, load_index, read_manifest
    from tasksift.tasks.guard import check_task

    index_dir = find_index(index_path)
    manifest = read_manifest(index_dir)
    reason = check_task(manifest, task, command, any_task, index_dir)
    if explain or any_task and manifest.task is not task:
        stderr.print(f"[dim]note:[/] {escape(reason)}", soft_wrap=True)
    return load_index(index_dir, manifest)


def _format(fmt: OutputFormat | None) -> OutputFormat:
    from tasksift.output import choose_format

    return choose_format(fmt, sys.stdout.isatty())


@app.command()
def similar(
    document: Annotated[
        str | None,
        typer.Argument(
            metavar="[PATH]", help="A document of the index, by its path.", show_default=False
        ),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option("--text", help="A text instead of a document.", show_default=False),
    ] = None,
    index_path: IndexPath = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Documents to show.")] = 10,
    path_globs: PathGlobs = None,
    types: Types = None,
    any_task: AnyTask = False,
    explain: ExplainGuard = False,
    fmt: FormatOption = None,
) -> None:
    """Documents most similar to a document of the index (no model needed) or to a text.

    Serves the similarity task: the index should be built with --task similarity.
    """
    if (document is None) == (text is None):
        raise typer.BadParameter("give either a document PATH or --text TEXT")
    if text is not None and not text.strip():
        raise typer.BadParameter("the text is empty", param_hint="--text")
    index = _open(index_path, Task.SIMILARITY, "similar", any_task, explain)
    from tasksift.output import write_hits
    from tasksift.tasks.similar import document_vector, similar_documents

    vector = document_vector(index, document) if document else _encode_text(index, text)
    where = DocumentFilter(tuple(path_globs or ()), tuple(types or ()))
    hits = similar_documents(index, vector, k, exclude=document, where=where or None)
    write_hits(sys.stdout, Console(), document or text, hits, _format(fmt))


def _encode_text(index: LoadedIndex, text: str) -> Any:
    """``text`` encoded with the index's document prompt (the ONNX fast path when the query
    prompt is the same, as for every symmetric task)."""
    from tasksift.search import load_query_embedder, open_query_embedder
    from tasksift.tasks.common import encode_documents

    prompts = index.manifest.prompts
    same = (prompts.query, prompts.query_adapter) == (prompts.document, prompts.document_adapter)
    if same:
        embedder, note = open_query_embedder(index.path, index.manifest)
        if note:
            stderr.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True)
    else:
        embedder = load_query_embedder(index.manifest)
    return encode_documents(index, embedder, [text])[0]


@app.command()
def dupes(
    threshold: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Cosine of two documents' vectors from which they count."
        ),
    ] = 0.9,
    chunks: Annotated[
        bool, typer.Option("--chunks", help="Repeated passages (chunks) across documents.")
    ] = False,
    index_path: IndexPath = None,
    any_task: AnyTask = False,
    explain: ExplainGuard = False,
    fmt: FormatOption = None,
) -> None:
    """Groups of near-duplicate documents (or passages), each with a representative.

    Serves the similarity task: the index should be built with --task similarity.
    """
    index = _open(index_path, Task.SIMILARITY, "dupes", any_task, explain)
    from tasksift.output import dupes_table
    from tasksift.tasks.dupes import duplicate_groups

    groups = duplicate_groups(index, threshold, chunks)
    out = _format(fmt)
    if out is OutputFormat.TABLE:
        Console().print(dupes_table(groups, threshold))
    elif out is OutputFormat.TSV:
        for group in groups:
            for member in group.members:
                role = "representative" if member.item == group.representative else "member"
                sys.stdout.write(
                    f"{group.number}\t{member.item}\t{member.similarity:.6f}\t{role}\n"
                )
    elif out in (OutputFormat.JSONL, OutputFormat.JSON):
        records = [_group_record(g) for g in groups]
        if out is OutputFormat.JSON:
            typer.echo(json.dumps({"threshold": threshold, "groups": records}, indent=2))
        for record in records if out is OutputFormat.JSONL else []:
            typer.echo(json.dumps(record, ensure_ascii=False))
    else:
        raise InputError("dupes writes table, json, jsonl or tsv")


def _group_record(group: Any) -> dict[str, Any]:
    return {
        "group": group.number,
        "representative": group.representative,
        "members": [{"id": m.item, "similarity": round(m.similarity, 6)} for m in group.members],
        "pairs": [{"a": a, "b": b, "similarity": round(s, 6)} for a, b, s in group.pairs],
    }
