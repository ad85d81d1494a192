"""Messages on stderr: notes, warnings about skipped input, errors. Results never go here.

``stdout()`` and ``stderr()`` are the consoles a command writes through: this process's
own, or, while a service runs a command line forwarded to it (``forwarded``), consoles
that write to its buffers and render as the caller's terminal would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from tasksift.queries import QueryFile

_stderr = Console(stderr=True, highlight=False)
_forwarded: ContextVar[tuple[Console, Console] | None] = ContextVar("forwarded", default=None)


def stdout() -> Console:
    """The console results are written through."""
    consoles = _forwarded.get()
    return Console() if consoles is None else consoles[0]


def stderr() -> Console:
    """The console messages are written through."""
    consoles = _forwarded.get()
    return _stderr if consoles is None else consoles[1]


@contextmanager
def forwarded(out: IO[str], err: IO[str], terminal: dict[str, Any]) -> Iterator[None]:
    """Write through consoles on ``out`` and ``err`` (whose ``isatty`` and ``encoding`` are
    the caller's) that rich sets up from the caller's ``terminal`` (``protocol.terminal``)."""
    environ = dict(terminal["environ"])
    dumb = environ.get("TERM", "").lower() in ("dumb", "unknown")
    size = (80, 25) if dumb else terminal["size"] or (0, 0)
    for i, name in enumerate(("COLUMNS", "LINES")):  # rich's order: variable, size, 80x25
        if not environ.get(name, "").isdigit():
            environ[name] = str(size[i] or (80, 25)[i])
    consoles = (
        Console(file=out, _environ=environ, legacy_windows=False),
        Console(file=err, _environ=environ, legacy_windows=False, highlight=False),
    )
    token = _forwarded.set(consoles)
    try:
        yield
    finally:
        _forwarded.reset(token)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def note(message: str) -> None:
    stderr().print(f"[dim]note:[/] {escape(message)}", soft_wrap=True)


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def print_error(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    stderr().print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", soft_wrap=True)


def report_problems(batch: QueryFile) -> None:
    """One line per input line of a queries file that was skipped, in line order."""
    for problem in sorted(batch.problems, key=lambda p: int(p.split()[1].rstrip(":"))):
        stderr().print(f"[yellow]skipped[/] {escape(problem)}", soft_wrap=True)
