"""Engines: what turns the documents to embed into chunks and vectors, batch by batch.

The writer hands an engine the ``Pending`` documents of a plan (ids to read, not texts,
so that nothing grows with the corpus) and receives ``EmbeddedBatch``es of a bounded
number of documents, which it stores and checkpoints. ``LocalEngine`` reads, chunks and
embeds in this process; ``tasksift.pipeline.ray_engine.RayEngine`` does the same on a Ray
cluster. Both yield the same chunks and vectors for the same documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

import numpy as np

from tasksift.chunks import Chunk
from tasksift.documents import Document, ReadReport
from tasksift.pipeline import model as model_stage
from tasksift.pipeline.model import OpenModel
from tasksift.pipeline.plan import Pending, Reporter


@dataclass(frozen=True)
class EmbeddedBatch:
    """Documents with their chunks and one unit vector per chunk (same order)."""

    documents: Sequence[Document]
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    read: int  # pending documents this batch accounts for, skipped ones included
    bytes: int  # their bytes


class Engine(Protocol):
    """Reads, chunks and embeds pending documents, ``batch_documents`` at a time."""

    def batches(
        self,
        pending: Pending,
        model: OpenModel,
        batch_documents: int,
        batch_size: int,
        report: ReadReport,
        reporter: Reporter,
    ) -> Iterator[EmbeddedBatch]: ...


class LocalEngine:
    """Everything in this process: read a batch of documents, chunk it, embed it."""

    def batches(
        self,
        pending: Pending,
        model: OpenModel,
        batch_documents: int,
        batch_size: int,
        report: ReadReport,
        reporter: Reporter,
    ) -> Iterator[EmbeddedBatch]:
        sizes = dict(zip(pending.ids, pending.sizes, strict=True))
        documents = pending.read(report)
        while taken := list(islice(documents, batch_documents)):
            read = [d for _, d in taken if d is not None]
            chunks = [c for d in read for c in model.chunker.chunk(d, model.config)]
            vectors = model_stage.embed_chunks(
                model.embedder, chunks, model.prompts, batch_size, reporter
            )
            done = sum(sizes.get(doc_id, 0) for doc_id, _ in taken)
            yield EmbeddedBatch(read, chunks, vectors, len(taken), done)
