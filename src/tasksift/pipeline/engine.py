"""Engines: what turns the documents to embed into chunks and vectors, batch by batch.

The writer hands an engine the ``Pending`` documents of a plan (ids to read, not texts,
so that nothing grows with the corpus) and receives ``EmbeddedBatch``es, which it stores
and checkpoints. A batch is bounded by documents and by chunks, so that a corpus of a few
long documents checkpoints as often as one of many short ones; it always holds whole
documents (a document's chunks are committed together, or a resumed run would take a half
stored one for indexed), so one very long document is a batch of its own. ``LocalEngine``
reads (through ``documents.isolated.Reading``), chunks and embeds in this process;
``tasksift.pipeline.ray_engine.RayEngine`` does the same on a Ray cluster. Both yield the
same chunks and vectors for the same documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tasksift.chunks import Chunk
from tasksift.documents import Document
from tasksift.documents.isolated import Reading
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
    """Reads, chunks and embeds pending documents in batches of whole documents: at most
    ``batch_documents``, and no more chunks than ``batch_chunks`` unless one document has
    more. ``reading`` reads the files and counts what it skips or fails on."""

    def batches(
        self,
        pending: Pending,
        model: OpenModel,
        batch_documents: int,
        batch_chunks: int,
        batch_size: int,
        reading: Reading,
        reporter: Reporter,
    ) -> Iterator[EmbeddedBatch]: ...


class LocalEngine:
    """Everything in this process: read documents, chunk them, embed a batch of them."""

    def batches(
        self,
        pending: Pending,
        model: OpenModel,
        batch_documents: int,
        batch_chunks: int,
        batch_size: int,
        reading: Reading,
        reporter: Reporter,
    ) -> Iterator[EmbeddedBatch]:
        sizes = dict(zip(pending.ids, pending.sizes, strict=True))
        batch = _Batch()
        for doc_id, document in pending.read(reading):
            batch.take(document, sizes.get(doc_id, 0), model)
            if batch.read >= batch_documents or len(batch.chunks) >= batch_chunks:
                yield batch.embedded(model, batch_size, reporter)
                batch = _Batch()
        if batch.read:
            yield batch.embedded(model, batch_size, reporter)


@dataclass
class _Batch:
    """Documents read and chunked, not embedded yet."""

    read: int = 0
    bytes: int = 0
    documents: list[Document] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)

    def take(self, document: Document | None, size: int, model: OpenModel) -> None:
        self.read += 1
        self.bytes += size
        if document is not None:
            self.documents.append(document)
            self.chunks.extend(model.chunker.chunk(document, model.config))

    def embedded(self, model: OpenModel, batch_size: int, reporter: Reporter) -> EmbeddedBatch:
        vectors = model_stage.embed_chunks(
            model.embedder, self.chunks, model.prompts, batch_size, reporter
        )
        return EmbeddedBatch(self.documents, self.chunks, vectors, self.read, self.bytes)
