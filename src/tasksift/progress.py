"""Progress on stderr: a rich display on a terminal, warnings only elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second of the current stage (files read, chunks embedded)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f}/s" if speed else "", style="cyan")


class RichReporter:
    """Shows each pipeline stage as a progress bar with its rate and time left."""

    def __init__(self, progress: Progress | None, console: Console, warnings: bool) -> None:
        self._progress = progress
        self._console = console
        self._warnings = warnings
        self._task: TaskID | None = None

    def stage(self, name: str, total: int | None) -> None:
        if self._progress is None:
            return
        if self._task is not None:
            self._progress.update(self._task, visible=False)
            self._progress.stop_task(self._task)
        self._task = self._progress.add_task(name, total=total)

    def advance(self, count: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)

    def warn(self, message: str) -> None:
        if self._warnings:
            self._console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


@contextmanager
def reporter_for(console: Console, show: bool, warnings: bool = True) -> Iterator[RichReporter]:
    """A reporter that draws on ``console`` when ``show``, and is silent otherwise."""
    if not show:
        yield RichReporter(None, console, warnings)
        return
    progress = Progress(
        TextColumn("{task.description:<17}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        yield RichReporter(progress, console, warnings)
