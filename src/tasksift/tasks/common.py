"""What the task commands share: document vectors and encoding given texts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasksift.index.reader import LoadedIndex
from tasksift.vectors.embedder import Embedder


@dataclass(frozen=True)
class DocumentVectors:
    """One unit vector per document: the normalized mean of its chunks' stored vectors."""

    ids: np.ndarray  # document ids, sorted (``index.documents.ids``)
    matrix: np.ndarray  # float32, one row per document

    @classmethod
    def of(cls, index: LoadedIndex, batch: int = 65_536) -> DocumentVectors:
        groups = index.documents
        dimension = index.manifest.model.dimension
        sums = np.zeros((len(groups.ids), dimension), dtype=np.float32)
        ordered = index.labels[groups.order]
        codes = groups.codes[groups.order]
        for begin in range(0, len(ordered), batch):  # memory bounded by a batch of chunks
            vectors = index.vectors.of(ordered[begin : begin + batch])
            part = codes[begin : begin + batch]  # grouped: each document's chunks are adjacent
            starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]])
            sums[part[starts]] += np.add.reduceat(vectors, starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return cls(groups.ids, sums / np.maximum(norms, 1e-12))


def encode_documents(index: LoadedIndex, embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Vectors of given texts made as the index's documents were: its document prompt."""
    prompts = index.manifest.prompts
    return embedder.encode(texts, prompts.document, adapter=prompts.document_adapter)


def document_embedder(index: LoadedIndex) -> tuple[Embedder, str | None]:
    """The index's model, to encode given texts as its documents were (the ONNX fast path
    when the query prompt is the document prompt, as for every symmetric task), and a note
    for the user when the fast path had to be skipped."""
    from tasksift.search.dense import load_query_embedder, open_query_embedder

    prompts = index.manifest.prompts
    same = (prompts.query, prompts.query_adapter) == (prompts.document, prompts.document_adapter)
    if not same:
        return load_query_embedder(index.manifest), None
    return open_query_embedder(index.path, index.manifest)
