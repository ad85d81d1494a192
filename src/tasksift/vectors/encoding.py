"""Encoding with a task's prompts: the one place where a query or a document meets its
prompt (and adapter) before a model encodes it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tasksift.prompts import PromptSet
from tasksift.vectors.embedder import Embedder


def encode_queries(embedder: Embedder, prompts: PromptSet, texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of ``texts`` as queries: the query prompt and adapter."""
    return embedder.encode(list(texts), prompts.query, adapter=prompts.query_adapter)


def encode_documents(
    embedder: Embedder, prompts: PromptSet, texts: Sequence[str], batch_size: int = 32
) -> np.ndarray:
    """Unit vectors of ``texts`` as documents: the document prompt and adapter."""
    return embedder.encode(
        list(texts), prompts.document, adapter=prompts.document_adapter, batch_size=batch_size
    )
