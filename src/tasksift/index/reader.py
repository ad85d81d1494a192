"""Reading an index: the live generation's manifest, checked, and ``LoadedIndex``.

``read_manifest`` needs no pyarrow (``info`` and refusals start fast); ``load_index``
opens the sidecar, checks that graph, rows and manifest agree, and opens the lexical side
when asked. Columns, the graph and rows are read when first needed.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasksift.errors import CorruptIndexError, first_line
from tasksift.index.sidecar import (
    LEGACY_CHUNKS_FILE,
    Sidecar,
    to_numpy,
)

if TYPE_CHECKING:
    import hnswlib
    import numpy as np
    import pyarrow as pa

    from tasksift.lexical.scorer import LexicalIndex
from tasksift.index.generations import MANIFEST_FILE, generation_dir
from tasksift.index.hnsw_file import (
    VECTORS_FILE,
    StoredVectors,
    build_graph,
    check_header,
    load_graph,
)
from tasksift.index.manifest import MANIFEST_KEY, PARTS_DIR, Manifest
from tasksift.index.rows import DocumentRows
from tasksift.index.sidecar import VECTORS_SUFFIX
from tasksift.lexical.record import LEXICAL_DIR

# ---------------------------------------------------------------- reading


def read_manifest(index_dir: Path) -> Manifest:
    """The manifest of the live generation.

    Read from the generation's ``manifest.json`` (no pyarrow needed, so that ``info`` and
    refusals start fast), after a cheap check that every sidecar file has the size it was
    written with. ``load_index`` later checks it against the Parquet metadata itself.
    """
    folder = generation_dir(index_dir)
    try:
        copy = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _manifest_from_parquet(folder / LEGACY_CHUNKS_FILE)
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(
            f"index manifest {folder / MANIFEST_FILE} is unreadable: {exc}"
        ) from None
    try:
        manifest = Manifest.from_json(json.dumps(copy["manifest"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptIndexError(f"index manifest in {folder} is invalid: {exc}") from None
    records = manifest.parts
    if records is None:
        _check_sidecar_file(folder / LEGACY_CHUNKS_FILE, copy.get("sidecar_bytes"))
    for record in records or ():
        parquet, arrow = record.files(folder)
        _check_sidecar_file(parquet, record.parquet_bytes)
        _check_file_size(arrow, record.arrow_bytes)
    return manifest


def _check_sidecar_file(sidecar: Path, expected_bytes: int | None) -> None:
    try:
        size = sidecar.stat().st_size
        with sidecar.open("rb") as handle:
            handle.seek(max(size - 4, 0))
            magic = handle.read(4)
    except FileNotFoundError:
        raise CorruptIndexError(f"index sidecar missing: {sidecar}") from None
    if size != expected_bytes or magic != b"PAR1":
        raise CorruptIndexError(
            f"index sidecar {sidecar} is unreadable: {size} bytes, {expected_bytes} were "
            "written (truncated or damaged); rebuild it with `tasksift index --rebuild`"
        )


def _check_file_size(path: Path, expected: int) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorruptIndexError(f"index file missing: {path}") from None
    if size != expected:
        raise CorruptIndexError(
            f"index file {path} is {size} bytes, {expected} were written (truncated or "
            "damaged); rebuild it with `tasksift index --rebuild`"
        )


def _manifest_from_parquet(sidecar: Path) -> Manifest:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(sidecar).metadata or {}
    except FileNotFoundError:
        raise CorruptIndexError(f"index sidecar missing: {sidecar}") from None
    except Exception as exc:
        raise CorruptIndexError(
            f"index sidecar {sidecar} is unreadable: {first_line(exc)}"
        ) from None
    if MANIFEST_KEY not in metadata:
        raise CorruptIndexError(f"{sidecar} carries no tasksift manifest")
    try:
        return Manifest.from_json(metadata[MANIFEST_KEY])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptIndexError(f"index manifest in {sidecar} is invalid: {exc}") from None


@dataclass(frozen=True)
class LoadedIndex:
    """A consistent, checked generation: manifest, sidecar, hnswlib graph and, when asked
    for and present, the lexical index. Sidecar columns, and the graph, are read when
    first needed: a search of a few queries reads the stored vectors exactly instead (see
    ``exact_is_cheaper``)."""

    path: Path
    manifest: Manifest
    sidecar: Sidecar  # rows sorted by label
    folder: Path  # the generation
    lexical: LexicalIndex | None = None
    built_graph: hnswlib.Index | None = None  # a checkpoint's, built from its parts

    @functools.cached_property
    def graph(self) -> hnswlib.Index:
        if self.built_graph is not None:
            return self.built_graph
        return load_graph(self.folder / VECTORS_FILE, self.manifest)

    def exact_is_cheaper(self, queries: int) -> bool:
        """Whether ``queries`` exact scans of the memory-mapped vectors cost less than
        loading the graph (which reads the whole file) and searching it."""
        return (
            "graph" not in self.__dict__
            and self.built_graph is None
            and queries <= EXACT_INSTEAD_OF_LOADING
            and self.vectors.matrix is not None
        )

    @functools.cached_property
    def labels(self) -> np.ndarray:
        import numpy as np

        column = self.sidecar.search_column("label")
        return to_numpy(column) if column.num_chunks else np.zeros(0, dtype=np.int64)

    @functools.cached_property
    def documents(self) -> DocumentRows:
        return DocumentRows.of_column(self.sidecar.search_column("doc_id"))

    @functools.cached_property
    def vectors(self) -> StoredVectors:
        return StoredVectors.open(self.folder / VECTORS_FILE, lambda: self.graph, self.labels)

    def column(self, name: str) -> pa.ChunkedArray:
        """One whole column of the sidecar."""
        return self.sidecar.table([name]).column(name)

    def row_of(self, label: int) -> int:
        """Row number of the chunk stored under ``label``."""
        import numpy as np

        return int(np.searchsorted(self.labels, label))


# Loading the graph reads the whole file, as long as about ten exact scans of its vectors
# take (0.24 s against 0.022 s a query at 100k chunks, both in proportion to the chunks).
EXACT_INSTEAD_OF_LOADING = 8


def load_index(
    index_dir: Path, manifest: Manifest | None = None, lexical: bool = False
) -> LoadedIndex:
    """Open the live generation and check that graph, rows and manifest agree.

    With ``lexical``, also open the generation's lexical index when it has one.

    A writer keeps the previous generation when it swaps in a new one; should a reader
    still lose the race (two swaps while it reads), it starts over from ``CURRENT``.
    """
    for attempt in range(3):
        try:
            return _load_generation(index_dir, manifest if attempt == 0 else None, lexical)
        except _GenerationVanished:
            continue
    raise CorruptIndexError(f"index {index_dir} keeps changing under this reader; try again")


class _GenerationVanished(Exception):
    pass


def _load_generation(index_dir: Path, manifest: Manifest | None, lexical: bool) -> LoadedIndex:
    folder = generation_dir(index_dir)
    manifest = manifest or read_manifest(index_dir)
    try:
        sidecar = Sidecar(folder, manifest.parts, manifest.chunks)
        _check_embedded_manifest(sidecar, manifest)
        built = _checkpoint_graph(folder, manifest)
        labels = sidecar.search_column("label")
    except (FileNotFoundError, CorruptIndexError) as exc:
        if not folder.exists():
            raise _GenerationVanished from exc
        if isinstance(exc, CorruptIndexError):
            raise
        raise CorruptIndexError(f"index file missing: {exc.filename}") from None
    except Exception as exc:
        if not folder.exists():
            raise _GenerationVanished from exc
        raise CorruptIndexError(f"index is unreadable: {first_line(exc)}") from None
    _check_labels(labels, manifest)
    opened = _open_lexical(folder, manifest, manifest.chunks) if lexical else None
    return LoadedIndex(index_dir, manifest, sidecar, folder, opened, built)


def _checkpoint_graph(folder: Path, manifest: Manifest) -> hnswlib.Index | None:
    """A checkpoint's graph, built from its parts' vectors; None (after checking the
    graph file's header) for a complete generation, whose graph is loaded when needed."""
    vectors = folder / VECTORS_FILE
    if manifest.complete or vectors.is_file():
        check_header(vectors, manifest)
        return None
    import numpy as np
    import pyarrow.parquet as pq

    graph = build_graph(np.zeros((0, manifest.model.dimension)), manifest.hnsw)
    graph.resize_index(max(manifest.vectors_total, 1))
    for record in manifest.parts or ():
        parquet, _ = record.files(folder)
        part_vectors = np.load(folder / PARTS_DIR / f"{record.name}{VECTORS_SUFFIX}")
        labels = to_numpy(pq.read_table(parquet, columns=["label"]).column(0))
        if len(part_vectors) != len(labels):
            raise CorruptIndexError(
                f"index part {record.name} has {len(part_vectors)} vectors for {len(labels)} "
                "chunks; rebuild it with `tasksift index --rebuild`"
            )
        if len(labels):
            graph.add_items(part_vectors, labels)
    graph.set_ef(manifest.hnsw.ef)
    return graph


def _check_embedded_manifest(sidecar: Sidecar, manifest: Manifest) -> None:
    """The Parquet metadata must record the model, task and prompts the manifest does (a
    part keeps the manifest of the generation that wrote it, so only those are compared)."""
    import pyarrow.parquet as pq

    files = sidecar.parquet_files()
    if not files:
        return
    embedded = (pq.read_schema(files[0]).metadata or {}).get(MANIFEST_KEY)
    written = Manifest.from_json(embedded) if embedded is not None else None
    same = written is not None and (
        written == manifest
        if sidecar.legacy
        else (written.model, written.task, written.prompts, written.chunking)
        == (manifest.model, manifest.task, manifest.prompts, manifest.chunking)
    )
    if not same:
        raise CorruptIndexError(
            f"index is inconsistent: {MANIFEST_FILE} and the sidecar's metadata differ; "
            "rebuild it with `tasksift index --rebuild`"
        )


def _open_lexical(folder: Path, manifest: Manifest, rows: int) -> LexicalIndex | None:
    from tasksift.lexical.scorer import LexicalIndex

    record = manifest.lexical
    if record is None or not record.matrix:
        return None
    try:
        return LexicalIndex.open(folder / LEXICAL_DIR, record, rows)
    except CorruptIndexError:
        if not folder.exists():
            raise _GenerationVanished from None
        raise


def _check_labels(labels: pa.ChunkedArray, manifest: Manifest) -> None:
    if len(labels) != manifest.chunks:
        raise CorruptIndexError(
            f"index is inconsistent: sidecar has {len(labels)} rows, the manifest says "
            f"{manifest.chunks}; rebuild it with `tasksift index --rebuild`"
        )
    import numpy as np

    values = to_numpy(labels) if labels.num_chunks else np.zeros(0, dtype=np.int64)
    if len(values) and (
        np.any(np.diff(values) <= 0) or values[0] < 0 or values[-1] >= manifest.vectors_total
    ):
        raise CorruptIndexError(
            "index is inconsistent: sidecar labels are not sorted, unique and within the "
            "vectors file; rebuild it with `tasksift index --rebuild`"
        )
