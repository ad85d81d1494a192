"""Progress on stderr: a rich display on a terminal, warnings only elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, Group
from rich.live import Live
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


class RunColumn(ProgressColumn):
    """The whole run: documents and chunks done of their totals, chunks/s, time left.

    Time left is the time so far scaled by the bytes still to read: a whole-run estimate,
    from start to end, that checkpoints and slow files are part of.
    """

    def render(self, task: Task) -> Text:
        fields = task.fields
        documents, total = fields.get("documents", 0), fields.get("documents_total", 0)
        chunks, elapsed = fields.get("chunks", 0), task.elapsed or 0.0
        fraction = task.completed / task.total if task.total else 0.0
        estimate = f"/~{round(chunks / fraction):,}" if 0 < fraction < 1 else ""
        rate = f"{chunks / elapsed:,.1f} chunks/s" if elapsed > 0 and chunks else ""
        left = ""
        if 0 < fraction < 1 and elapsed > 0:
            left = f"~{_clock(elapsed * (1 - fraction) / fraction)} left"
        status = fields.get("status")
        parts = [f"documents {documents:,}/{total:,}", f"chunks {chunks:,}{estimate}", rate,
                 left, f"[{status}]" if status else ""]  # fmt: skip
        return Text("  ".join(p for p in parts if p), style="cyan")


def _clock(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}"


class RichReporter:
    """Shows each stage before the run as a progress bar with its rate and time left, then
    the run as one bar over the bytes of the pending documents (see ``RunColumn``)."""

    def __init__(
        self, progress: Progress | None, console: Console, warnings: bool, run: Progress | None
    ) -> None:
        self._progress = progress
        self._run_progress = run
        self._console = console
        self._warnings = warnings
        self._task: TaskID | None = None
        self._run: TaskID | None = None

    def stage(self, name: str, total: int | None) -> None:
        if self._progress is None:
            return
        self._hide_current()
        self._task = self._progress.add_task(name, total=total)

    def _hide_current(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=False)
            self._progress.stop_task(self._task)
            self._task = None

    def advance(self, count: int) -> None:
        if self._run is not None:
            chunks = self._run_progress.tasks[self._run].fields["chunks"] + count
            self._run_progress.update(self._run, chunks=chunks)
        elif self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)

    def run(self, documents: int, total_bytes: int) -> None:
        if self._run_progress is None:
            return
        self._hide_current()
        self._run = self._run_progress.add_task(
            "indexing", total=max(total_bytes, 1), documents=0, documents_total=documents,
            chunks=0, status=None,
        )  # fmt: skip

    def documents(self, count: int, done_bytes: int) -> None:
        if self._run is not None:
            done = self._run_progress.tasks[self._run].fields["documents"] + count
            self._run_progress.update(self._run, advance=done_bytes, documents=done)

    def status(self, text: str | None) -> None:
        if self._run is not None:
            self._run_progress.update(self._run, status=text)

    def warn(self, message: str) -> None:
        if self._warnings:
            self._console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


@contextmanager
def reporter_for(console: Console, show: bool, warnings: bool = True) -> Iterator[RichReporter]:
    """A reporter that draws on ``console`` when ``show``, and is silent otherwise."""
    if not show:
        yield RichReporter(None, console, warnings, None)
        return
    columns = (TextColumn("{task.description:<17}"), BarColumn())
    stages = Progress(
        *columns, MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, transient=True,
    )  # fmt: skip
    run = Progress(*columns, TimeElapsedColumn(), RunColumn(), console=console, transient=True)
    with Live(Group(stages, run), console=console, transient=True, refresh_per_second=4):
        yield RichReporter(stages, console, warnings, run)
