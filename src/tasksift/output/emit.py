"""The one writer of command output, and the choice of a format among a command's own.

A command builds an :class:`Output`: for each format it supports, a function that makes
what that format shows. :func:`emit` writes one of them to stdout. Which formats a command
accepts is its ``--format`` option's business (see ``cli.options.format_option``), checked
before the command does any work.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from tasksift.options import OutputFormat

Rows = Iterable[Sequence[object]]


@dataclass(frozen=True)
class Output:
    """A command's results in each format it supports (None: not supported).

    ``table`` yields rich renderables; ``json`` yields documents, each written indented;
    ``jsonl`` yields records, one a line; ``tsv`` and ``trec`` yield rows of fields.
    """

    table: Callable[[], Iterable[Any]] | None = None
    json: Callable[[], Iterable[object]] | None = None
    jsonl: Callable[[], Iterable[object]] | None = None
    tsv: Callable[[], Rows] | None = None
    trec: Callable[[], Rows] | None = None


def choose_format(
    requested: OutputFormat | None, stdout_is_terminal: bool, formats: Sequence[OutputFormat]
) -> OutputFormat:
    """The requested format, else a table on a terminal and elsewhere JSON Lines, or JSON
    for a command that writes one document."""
    if requested is not None:
        return requested
    if stdout_is_terminal:
        return OutputFormat.TABLE
    return OutputFormat.JSONL if OutputFormat.JSONL in formats else OutputFormat.JSON


def emit(output: Output, fmt: OutputFormat, out: IO[str] | None = None) -> None:
    """Write ``output`` in ``fmt`` to ``out`` (stdout)."""
    out = out if out is not None else sys.stdout
    make = getattr(output, fmt.value)
    if make is None:  # a command offered a format it cannot write: a bug, not a user error
        raise ValueError(f"no {fmt.value} output here")
    if fmt is OutputFormat.TABLE:
        from rich.console import Console

        console = Console(file=out) if out is not sys.stdout else Console()
        for renderable in make():
            console.print(renderable)
    elif fmt is OutputFormat.JSON:
        for document in make():
            out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    elif fmt is OutputFormat.JSONL:
        for record in make():
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        separator = "\t" if fmt is OutputFormat.TSV else " "
        for row in make():
            out.write(separator.join("" if f is None else str(f) for f in row) + "\n")
