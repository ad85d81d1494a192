"""``tasksift info`` and ``tasksift models``: what an index holds, what tasksift knows."""

from __future__ import annotations

import typer

from tasksift.cli.options import REPORT_FORMATS, IndexPath, ReportFormat


def register(app: typer.Typer) -> None:
    app.command()(info)
    app.command()(models)


def info(index_path: IndexPath = None, fmt: ReportFormat = None) -> None:
    """Show an index's model, task, prompts, counts and sizes."""
    out_format = REPORT_FORMATS.chosen(fmt)
    from tasksift.guard import task_support
    from tasksift.index.generations import find_index, index_size_on_disk
    from tasksift.index.reader import read_manifest
    from tasksift.output.emit import emit
    from tasksift.output.metadata import info_output, manifest_record

    index_dir = find_index(index_path)
    manifest = read_manifest(index_dir)
    record = manifest_record(manifest, str(index_dir), index_size_on_disk(index_dir))
    record["serves"] = {"search": f"runs: built for {manifest.task.value}"}
    record["serves"] |= task_support(manifest, index_dir)
    emit(info_output(record), out_format)


def models(fmt: ReportFormat = None) -> None:
    """List the built-in prompt profiles and their prompts per task."""
    from tasksift.output.emit import emit
    from tasksift.output.metadata import models_output

    emit(models_output(), REPORT_FORMATS.chosen(fmt))
