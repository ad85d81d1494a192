"""The guard: vectors made for one task, model and prompts are not used for another.

Everything here reads the manifest alone, before any model loads, so that a refusal
(``MismatchError``, exit 3) costs nothing. ``check_request`` refuses a search whose task,
model, adapter or prompts differ from its index's. ``check_task`` lets a task command (``similar``,
``dupes``, ``cluster``, ``classify``) run on an index built for its task, or for another
task whose document prompt for this model is the same (so that its vectors are the ones
this task would make); ``--any-task`` runs it knowingly anyway.
"""

from __future__ import annotations

from pathlib import Path

from tasksift.errors import MismatchError
from tasksift.index.manifest import Manifest
from tasksift.options import SearchRequest
from tasksift.prompts import PromptSet, Task, config_prompts, find_profile, resolve_prompts
from tasksift.vectors.adapters import AdapterRecord, read_adapter
from tasksift.vectors.models import canonical_model_name


def check_request(manifest: Manifest, request: SearchRequest, index_dir: Path) -> None:
    """Refuse a search whose task, model or prompts differ from the index's."""
    corpus = manifest.corpus_root
    if request.task is not None and request.task != manifest.task:
        raise MismatchError(
            f"index {index_dir} was built for task '{manifest.task.value}' but this search asks "
            f"for '{request.task.value}'; either search with --task {manifest.task.value}, or "
            f"build an index for that task: tasksift index {corpus} --task {request.task.value} "
            "--index NEW_INDEX"
        )
    if request.model is not None and canonical_model_name(request.model) != manifest.model.name:
        raise MismatchError(
            f"index {index_dir} was built with model '{manifest.model.name}' but this search "
            f"asks for '{request.model}'; either search with --model {manifest.model.name} (or "
            f"no --model), or build an index with that model: tasksift index {corpus} "
            f"--model {request.model} --index NEW_INDEX"
        )
    if request.adapter is not None and names_task_adapter(manifest, request.adapter):
        check_task_adapter(manifest, request.adapter, index_dir)
    elif request.adapter is not None:
        check_adapter(manifest, read_adapter(request.adapter), index_dir)
    recorded = manifest.prompts
    asked_query = request.query_prompt
    if request.instruction is not None:
        profile = find_profile(manifest.model.name, recorded.profile)
        template = profile.instruction_template if profile else None
        asked_query = template.format(instruction=request.instruction) if template else None
        if template is None:
            raise MismatchError(
                f"index {index_dir} was built without an instruction template; --instruction "
                "does not apply to it"
            )
    for side, asked, held in (
        ("query", asked_query, recorded.query),
        ("document", request.document_prompt, recorded.document),
    ):
        if asked is not None and asked != held:
            raise MismatchError(
                f"index {index_dir} was built with {side} prompt {held!r} but this search gives "
                f"{asked!r}; either search without the override, or build an index with that "
                f"prompt: tasksift index {corpus} --{side}-prompt {asked!r} --index NEW_INDEX"
            )


def check_adapter(manifest: Manifest, asked: AdapterRecord, index_dir: Path) -> None:
    """Refuse an adapter other than the one the index's vectors were made with."""
    held = manifest.adapter
    if held is not None and held.fingerprint == asked.fingerprint:
        return
    corpus = manifest.corpus_root
    built = f"adapter {held.path} ({held.short})" if held else "no adapter"
    advice = "search without --adapter (the index loads its own)" if held else "drop --adapter"
    raise MismatchError(
        f"index {index_dir} was built with {built} but this search gives adapter {asked.path} "
        f"({asked.short}); either {advice}, or build an index with that adapter: tasksift "
        f"index {corpus} --adapter {asked.path} --index NEW_INDEX"
    )


def names_task_adapter(manifest: Manifest, adapter: str) -> bool:
    """Whether ``adapter`` is a name (not a folder) and the index's model chose one by name."""
    held = (manifest.prompts.query_adapter, manifest.prompts.document_adapter)
    return not Path(adapter).expanduser().is_dir() and held != (None, None)


def check_task_adapter(manifest: Manifest, asked: str, index_dir: Path) -> None:
    """Refuse a task adapter (one a model ships, by name) other than the index's."""
    held = {manifest.prompts.query_adapter, manifest.prompts.document_adapter} - {None}
    if asked in held:
        return
    names = " and ".join(sorted(str(n) for n in held))
    raise MismatchError(
        f"index {index_dir} was built with the model's task adapter {names} (task "
        f"{manifest.task.value}) but this search gives {asked!r}; either search without "
        f"--adapter (the index loads its own), or build an index for that adapter's task: "
        f"tasksift index {manifest.corpus_root} --task TASK --index NEW_INDEX"
    )


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
