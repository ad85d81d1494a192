"""Index metadata (``info``) and the prompt profiles (``models``) as records and tables."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from tasksift.options import AdaptiveRule
from tasksift.output.emit import Output
from tasksift.prompts import FROM_MODEL_CONFIG, describe_profiles

if TYPE_CHECKING:
    from tasksift.index.manifest import Manifest


def info_output(record: dict[str, Any]) -> Output:
    """An index's record (see ``manifest_record``) as a table or one JSON document."""
    return Output(table=lambda: [info_table(record)], json=lambda: [record])


def models_output() -> Output:
    """The built-in prompt profiles as a table or one JSON document."""
    return Output(table=lambda: [models_table()], json=lambda: [models_records()])


def manifest_record(manifest: Manifest, index_path: str, sizes: dict[str, int]) -> dict[str, Any]:
    record = json.loads(manifest.to_json())
    if record.get("fusion") is None:  # built before the rule was recorded: the default's
        record["fusion"] = {**AdaptiveRule().to_dict(), "recorded": False}
    record["index_path"] = index_path
    record["files"] = sizes
    return record


def info_table(record: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    if not record.get("complete", True):
        table.add_row(
            "status",
            "[yellow]incomplete[/]: a run was interrupted; rerun `tasksift index` to finish",
        )
    for key, value in _flatten(record):
        table.add_row(
            key, repr(value) if isinstance(value, str) and "prompt" in key else str(value)
        )
    return table


def _flatten(record: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def models_table() -> Table:
    table = Table(show_lines=False, expand=True)
    table.add_column("profile", no_wrap=True, style="bold")
    table.add_column("models", overflow="fold", ratio=2)
    table.add_column("task", no_wrap=True)
    table.add_column("query prompt", overflow="fold", ratio=2)
    table.add_column("document prompt", overflow="fold", ratio=2)
    previous = None
    for name, description, patterns, task, prompts in describe_profiles():
        first = name != previous
        previous = name
        query = _describe_side(prompts.query, prompts.query_adapter)
        document = _describe_side(prompts.document, prompts.document_adapter)
        table.add_row(
            name if first else "",
            f"{description}\n[dim]{patterns}[/]" if first else "",
            task.value,
            query,
            document,
            end_section=task is list(type(task))[-1],
        )
    return table


def models_records() -> list[dict[str, Any]]:
    """Profiles as JSON rows; a prompt left to the model's config is null."""
    return [
        {
            "profile": name,
            "description": description,
            "patterns": patterns,
            "task": task.value,
            **{
                f"prompts.{key}": None if value == FROM_MODEL_CONFIG else value
                for key, value in asdict(prompts).items()
            },
        }
        for name, description, patterns, task, prompts in describe_profiles()
    ]


def _describe_side(prompt: str, adapter: str | None) -> str:
    if prompt == FROM_MODEL_CONFIG:
        shown = f"[dim]{escape(prompt)}[/]"
    else:
        shown = escape(repr(prompt)) if prompt else "[dim](none)[/]"
    return f"{shown}\n[dim]adapter: {adapter}[/]" if adapter else shown
