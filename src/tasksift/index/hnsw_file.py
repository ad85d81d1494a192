"""The graph file: an hnswlib index in cosine space, and the vectors stored in it.

``build_graph`` and ``load_graph`` make and read it; ``check_header`` compares its header
with the manifest before hnswlib reads it; ``StoredVectors`` reads vectors straight from
the file through a memory map, without loading the graph.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasksift.errors import CorruptIndexError, first_line

if TYPE_CHECKING:
    import hnswlib
    import numpy as np

from tasksift.index.manifest import HnswParams, Manifest

VECTORS_FILE = "vectors.hnsw"


HNSW_HEADER_BYTES = 96  # hnswlib 0.8's saveIndex header, before the level-0 elements


@dataclass(frozen=True)
class StoredVectors:
    """The stored (unit) vectors, read from the hnswlib file through a memory map.

    hnswlib's file holds, after its header, one fixed-size record per element: links, then
    the vector at ``data_offset``, then the label at ``label_offset``. Reading vectors from
    it by label needs no copy of the whole matrix, nor the graph loaded, and is far cheaper
    than ``Index.get_items``, which copies element by element. Should the file not read as
    expected (labels that are not each slot once, vectors that are not unit length: another
    hnswlib layout), vectors come from the graph's ``get_items`` instead.
    """

    matrix: np.ndarray | None  # element -> vector (a view into the memory map)
    position: np.ndarray | None  # label -> element
    graph: Callable[[], hnswlib.Index]  # the graph, loaded when first asked for

    @classmethod
    def open(
        cls, path: Path, graph: Callable[[], hnswlib.Index], labels: np.ndarray
    ) -> StoredVectors:
        import numpy as np

        if not path.is_file():  # a checkpoint: the graph was built from its parts
            return cls(None, None, graph)
        with path.open("rb") as handle:
            header = handle.read(48)
        _, _, count, per_element, label_offset, data_offset = struct.unpack("<6Q", header)
        if path.stat().st_size < HNSW_HEADER_BYTES + count * per_element:
            return cls(None, None, graph)
        records = np.memmap(
            path, dtype=np.uint8, mode="r", offset=HNSW_HEADER_BYTES, shape=(count, per_element)
        )
        matrix = records[:, data_offset:label_offset].view(np.float32)
        stored = records[:, label_offset : label_offset + 8].view(np.uint64).ravel()
        if int(stored.max(initial=0)) >= max(count, 1):  # labels are slots 0 .. count - 1
            return cls(None, None, graph)
        position = np.full(count, -1, dtype=np.int64)
        position[stored.astype(np.int64)] = np.arange(count)
        mapped = cls(matrix, position, graph)
        probe = labels[[0, -1]] if len(labels) else labels
        norms = np.linalg.norm(mapped.of(probe), axis=1) if len(probe) else np.ones(1)
        if np.any(position < 0) or not np.allclose(norms, 1.0, atol=1e-3):
            return cls(None, None, graph)  # not the layout read here: ask hnswlib instead
        return mapped

    def of(self, labels: np.ndarray) -> np.ndarray:
        """The vectors of ``labels``, one row each."""
        import numpy as np

        if self.matrix is None:
            return np.asarray(self.graph().get_items(labels), dtype=np.float32).reshape(
                len(labels), -1
            )
        return self.matrix[self.position[labels]]

    def scores(self, labels: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Cosine of ``vector`` with the stored vectors of ``labels`` (unit vectors); most of
        them are scored in place in the memory map, without gathering a copy."""
        if self.matrix is not None and 2 * len(labels) >= len(self.matrix):
            return (self.matrix @ vector)[self.position[labels]]
        return self.of(labels) @ vector


def check_header(vectors: Path, manifest: Manifest) -> None:
    """Count and dimension from the hnswlib file header, checked before hnswlib reads it."""
    try:
        size = vectors.stat().st_size
        with vectors.open("rb") as handle:
            header = handle.read(48)
    except FileNotFoundError:
        raise CorruptIndexError(f"index vectors missing: {vectors}") from None
    if len(header) < 48:
        raise CorruptIndexError(f"index vectors {vectors} are truncated")
    _, _, count, per_element, label_offset, data_offset = struct.unpack("<6Q", header)
    dimension = (label_offset - data_offset) // 4
    if count != manifest.vectors_total or dimension != manifest.model.dimension:
        raise CorruptIndexError(
            f"index is inconsistent: vectors file holds {count} vectors of dimension {dimension}, "
            f"the manifest says {manifest.vectors_total} of dimension "
            f"{manifest.model.dimension}; rebuild it with `tasksift index --rebuild`"
        )
    if manifest.vectors_bytes and size != manifest.vectors_bytes:
        raise CorruptIndexError(
            f"index vectors {vectors} are {size} bytes, the manifest recorded "
            f"{manifest.vectors_bytes}; rebuild it with `tasksift index --rebuild`"
        )


def load_graph(vectors: Path, manifest: Manifest) -> hnswlib.Index:
    """The graph of a complete generation (its header was checked on load)."""
    import hnswlib

    try:
        graph = hnswlib.Index(space=manifest.hnsw.space, dim=manifest.model.dimension)
        graph.load_index(str(vectors), max_elements=manifest.vectors_total)
    except Exception as exc:
        if not vectors.exists():
            raise CorruptIndexError(
                f"index changed while it was read ({vectors.parent.name} is gone); try again"
            ) from None
        raise CorruptIndexError(f"index is unreadable: {first_line(exc)}") from None
    graph.set_ef(manifest.hnsw.ef)
    return graph


def build_graph(vectors: np.ndarray, params: HnswParams, threads: int = -1) -> hnswlib.Index:
    """An hnswlib index over ``vectors``, labelled by row number."""
    import hnswlib
    import numpy as np

    count, dimension = vectors.shape
    graph = hnswlib.Index(space=params.space, dim=dimension)
    graph.init_index(max_elements=max(count, 1), ef_construction=params.ef_construction, M=params.M)
    if count:
        graph.add_items(vectors, np.arange(count, dtype=np.int64), num_threads=threads)
    graph.set_ef(params.ef)
    return graph
