"""Messages on stderr: notes, warnings about skipped input, errors. Results never go here."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from tasksift.queries import QueryFile

stderr = Console(stderr=True, highlight=False)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def note(message: str) -> None:
    stderr.print(f"[dim]note:[/] {escape(message)}", soft_wrap=True)


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def print_error(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    stderr.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", soft_wrap=True)


def report_problems(batch: QueryFile) -> None:
    """One line per input line of a queries file that was skipped, in line order."""
    for problem in sorted(batch.problems, key=lambda p: int(p.split()[1].rstrip(":"))):
        stderr.print(f"[yellow]skipped[/] {escape(problem)}", soft_wrap=True)
