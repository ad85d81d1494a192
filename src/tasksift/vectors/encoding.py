"""Encoding with a task's prompts: the one place where a text meets the prompt (and adapter)
of its role, a query or a document, before a model encodes it. The index writer, the query
path and the task commands all encode through ``encode_with_prompt``."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import numpy as np

from tasksift.prompts import PromptSet
from tasksift.vectors.embedder import Embedder


class Role(Enum):
    """How a text is read: as a query, or as a document (the index's chunks)."""

    QUERY = "query"
    DOCUMENT = "document"


def prompt_of(prompts: PromptSet, role: Role) -> tuple[str, str | None]:
    """The prompt and the adapter (None: no adapter) of ``role``."""
    if role is Role.QUERY:
        return prompts.query, prompts.query_adapter
    return prompts.document, prompts.document_adapter


def encode_with_prompt(
    embedder: Embedder,
    prompts: PromptSet,
    role: Role,
    texts: Sequence[str],
    batch_size: int = 32,
) -> np.ndarray:
    """Unit vectors of ``texts`` read as ``role``: with its prompt and adapter."""
    prompt, adapter = prompt_of(prompts, role)
    return embedder.encode(list(texts), prompt, adapter=adapter, batch_size=batch_size)
