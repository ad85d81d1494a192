"""What the task commands share: one vector per document."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasksift.index.reader import LoadedIndex


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
