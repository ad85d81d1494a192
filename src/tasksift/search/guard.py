"""The guard: a search must use the task, model and prompts its index was built with.

``check_request`` runs on the manifest alone, before any model is loaded.
"""

from __future__ import annotations

from pathlib import Path

from tasksift.errors import MismatchError
from tasksift.index import Manifest
from tasksift.options import SearchRequest
from tasksift.prompts import find_profile
from tasksift.vectors import canonical_model_name


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
