"""The guard of the task commands: vectors made for another job are not used silently.

A command serves one task. On an index built for another task it is refused (exit 3)
unless the model's prompts for the two tasks are identical, in which case the vectors are
the same ones and the command runs, saying why; ``--any-task`` runs it knowingly anyway.
"""

from __future__ import annotations

from pathlib import Path

from tasksift.errors import MismatchError
from tasksift.index import Manifest
from tasksift.prompts import PromptSet, Task, config_prompts, resolve_prompts


def prompts_for(manifest: Manifest, task: Task) -> PromptSet:
    """The prompts the index's model uses for ``task`` (its profile, then its config)."""
    folder = Path(manifest.model.path) if manifest.model.path else None
    return resolve_prompts(
        manifest.model.name,
        task,
        config_prompts(folder),
        profile_name=manifest.prompts.profile,
    )


def check_task(manifest: Manifest, task: Task, command: str, any_task: bool, index: Path) -> str:
    """Why ``command`` (serving ``task``) may run on this index; MismatchError when not.

    The returned line is for ``--explain`` and ``info``-like output.
    """
    built = manifest.task
    if built is task:
        return f"the index was built for {task.value}, the task `tasksift {command}` serves"
    wanted, held = prompts_for(manifest, task), manifest.prompts
    same = (wanted.document, wanted.document_adapter) == (held.document, held.document_adapter)
    if same:
        shown = repr(held.document) if held.document else "no prompt"
        return (
            f"the index was built for {built.value}, but this model's document prompt for "
            f"{task.value} is the same ({shown}), so its vectors are the ones {task.value} "
            "would make"
        )
    if any_task:
        return (
            f"--any-task: running on vectors made for {built.value} (document prompt "
            f"{held.document!r}), not for {task.value} ({wanted.document!r})"
        )
    raise MismatchError(
        f"index {index} was built for task '{built.value}' (document prompt "
        f"{held.document!r}), but `tasksift {command}` serves '{task.value}', whose prompt is "
        f"{wanted.document!r}; either build an index for it: tasksift index "
        f"{manifest.corpus_root} --task {task.value} --index NEW_INDEX, or pass --any-task "
        "to run on these vectors knowingly"
    )


COMMANDS = {"similar": Task.SIMILARITY, "dupes": Task.SIMILARITY, "cluster": Task.CLUSTERING,
            "classify": Task.CLASSIFICATION}  # fmt: skip


def task_support(manifest: Manifest, index: Path) -> dict[str, str]:
    """For each task command: why it runs on this index, or that it is refused and why."""
    support = {}
    for command, task in COMMANDS.items():
        try:
            support[command] = "runs: " + check_task(manifest, task, command, False, index)
        except MismatchError:
            support[command] = (
                f"refused: built for {manifest.task.value} with other prompts than "
                f"{task.value}'s (build an index with --task {task.value}, or pass --any-task)"
            )
    return support
