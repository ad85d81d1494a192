"""Index: an hnswlib graph plus a Parquet sidecar whose schema metadata is the manifest.

On disk an index is a folder::

    INDEX/
      CURRENT                 name of the live generation (replaced atomically)
      gen-<time_ns>/
        manifest.json         the manifest: model, task, prompts, ..., and the parts
        vectors.hnsw          hnswlib index, cosine space (complete generations)
        parts/                the sidecar: one row per chunk, in immutable parts (``sidecar``)
          <part>.parquet      every column; schema metadata b"tasksift" = manifest JSON
          <part>.arrow        the columns a search shows, memory-mapped
          <part>.vectors.npy  the part's vectors, in a checkpoint (no graph yet)
        lexical/              BM25 index of the same chunks (see ``lexical``)
      .pending-<pid>/         parts of a running write, not yet committed
      .lock                   held while `tasksift index` writes

A write builds a new generation beside the live one and then swaps ``CURRENT``; a reader
that follows ``CURRENT`` sees either the old complete state or the new one, never a mix.
Parts that did not change are hard-linked from the previous generation, so that a commit
writes what it adds. Format 1 generations have one ``chunks.parquet`` instead of parts.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasksift import __version__
from tasksift.errors import CorruptIndexError, IndexNotFoundError, IndexWriteError
from tasksift.prompts import PromptSet, Task
from tasksift.sidecar import (
    LEGACY_CHUNKS_FILE,
    PARTS_DIR,
    PartRecord,
    Sidecar,
    fsync,
    to_numpy,
)

if TYPE_CHECKING:
    import hnswlib
    import numpy as np
    import pyarrow as pa

    from tasksift.lexical import LexicalIndex

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)  # 1: one chunks.parquet, terms in lexical/; 2: parts
READABLE_TEXT = " and ".join(map(str, READABLE_FORMATS))
MANIFEST_KEY = b"tasksift"
CURRENT_FILE = "CURRENT"
VECTORS_FILE = "vectors.hnsw"
CHUNKS_FILE = LEGACY_CHUNKS_FILE
VECTORS_SUFFIX = ".vectors.npy"  # a part's vectors, in a checkpoint
PENDING_PREFIX = ".pending-"
MANIFEST_FILE = "manifest.json"
LEXICAL_DIR = "lexical"  # tasksift.lexical.LEXICAL_DIR, without importing numpy here
DEFAULT_INDEX_DIRNAME = ".tasksift"
INDEX_ENV_VAR = "TASKSIFT_INDEX"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str | None
    revision: str | None
    fingerprint: str
    dimension: int
    max_seq_length: int
    normalize: bool = True
    trust_remote_code: bool = False


@dataclass(frozen=True)
class HnswParams:
    space: str = "cosine"
    M: int = 16
    ef_construction: int = 200
    ef: int = 100


@dataclass(frozen=True)
class Manifest:
    """Everything needed to reproduce an index's vectors and to check a search against it."""

    model: ModelInfo
    task: Task
    prompts: PromptSet
    chunking: dict[str, int]
    hnsw: HnswParams
    documents: int
    chunks: int
    corpus_root: str
    vectors_bytes: int = 0
    vectors_total: int = 0  # slots in the hnswlib file, deleted ones included
    complete: bool = True  # False for a checkpoint of a run that has not finished
    fast_path: dict[str, Any] | None = None  # see tasksift.fastpath.FastPathRecord
    lexical: dict[str, Any] | None = None  # see tasksift.lexical.LexicalRecord; None: dense only
    readers: dict[str, int] | None = None  # kind -> version of the readers (documents)
    parts: list[dict[str, Any]] | None = None  # sidecar parts (PartRecord); None: format 1
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    tool_version: str = __version__
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        data["task"] = self.task.value
        data["prompts"] = self.prompts.to_dict()
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        version = data.get("format_version")
        if version not in READABLE_FORMATS:
            raise CorruptIndexError(
                f"index format version {version!r} is not supported by tasksift {__version__} "
                f"(reads versions {READABLE_TEXT}); rebuild it with `tasksift index --rebuild`"
            )
        return cls(
            model=ModelInfo(**data["model"]),
            task=Task(data["task"]),
            prompts=PromptSet.from_dict(data["prompts"]),
            chunking={k: int(v) for k, v in data["chunking"].items()},
            hnsw=HnswParams(**data["hnsw"]),
            documents=int(data["documents"]),
            chunks=int(data["chunks"]),
            corpus_root=data["corpus_root"],
            vectors_bytes=int(data.get("vectors_bytes", 0)),
            vectors_total=int(data.get("vectors_total", data["chunks"])),
            complete=bool(data.get("complete", True)),
            fast_path=data.get("fast_path"),
            lexical=data.get("lexical"),
            readers=data.get("readers"),
            parts=data.get("parts"),
            created_at=data["created_at"],
            tool_version=data["tool_version"],
            format_version=version,
        )

    @property
    def part_records(self) -> list[PartRecord] | None:
        return None if self.parts is None else [PartRecord.from_dict(p) for p in self.parts]


# ---------------------------------------------------------------- locating an index


def find_index(explicit: Path | None, start: Path | None = None) -> Path:
    """``--index``, else the nearest ``.tasksift`` from ``start`` upward, else $TASKSIFT_INDEX."""
    if explicit is not None:
        return explicit
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_INDEX_DIRNAME
        if (candidate / CURRENT_FILE).is_file():
            return candidate
    from_env = os.environ.get(INDEX_ENV_VAR)
    if from_env:
        return Path(from_env)
    raise IndexNotFoundError(
        f"no index given and none found: no {DEFAULT_INDEX_DIRNAME}/ in {here} or above, and "
        f"${INDEX_ENV_VAR} is not set; build one with `tasksift index DIR` or pass --index"
    )


def generation_dir(index_dir: Path) -> Path:
    """The live generation folder of ``index_dir``."""
    if not index_dir.exists():
        raise IndexNotFoundError(f"index not found: {index_dir}")
    current = index_dir / CURRENT_FILE
    try:
        name = current.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise CorruptIndexError(
            f"{index_dir} is not a tasksift index (no {CURRENT_FILE} file)"
        ) from None
    except OSError as exc:
        raise CorruptIndexError(f"cannot read {current}: {exc.strerror}") from None
    folder = index_dir / name
    if not name or "/" in name or not folder.is_dir():
        raise CorruptIndexError(f"index {index_dir} points at a missing generation {name!r}")
    return folder


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
        return _manifest_from_parquet(folder / CHUNKS_FILE)
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(
            f"index manifest {folder / MANIFEST_FILE} is unreadable: {exc}"
        ) from None
    try:
        manifest = Manifest.from_json(json.dumps(copy["manifest"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptIndexError(f"index manifest in {folder} is invalid: {exc}") from None
    records = manifest.part_records
    if records is None:
        _check_sidecar_file(folder / CHUNKS_FILE, copy.get("sidecar_bytes"))
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
            f"index sidecar {sidecar} is unreadable: {_first_line(exc)}"
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
        return _load_graph(self.folder / VECTORS_FILE, self.manifest)

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


HNSW_HEADER_BYTES = 96  # hnswlib 0.8's saveIndex header, before the level-0 elements
# Loading the graph reads the whole file, as long as about ten exact scans of its vectors
# take (0.24 s against 0.022 s a query at 100k chunks, both in proportion to the chunks).
EXACT_INSTEAD_OF_LOADING = 8


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_hnsw_header(vectors: Path, manifest: Manifest) -> None:
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


@dataclass(frozen=True)
class DocumentRows:
    """Sidecar rows grouped by document: rows ``order[starts[d]:ends[d]]`` are document
    ``ids[d]``'s, and ``codes[row]`` is the document of a row."""

    ids: np.ndarray  # document ids, sorted
    codes: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, doc_ids: list[str]) -> DocumentRows:
        import numpy as np

        ids, codes = np.unique(np.asarray(doc_ids, dtype=object), return_inverse=True)
        return cls.grouped(ids, codes)

    @classmethod
    def grouped(cls, ids: np.ndarray, codes: np.ndarray) -> DocumentRows:
        """Rows grouped by their ``codes`` into the documents ``ids`` (sorted)."""
        import numpy as np

        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0]) if len(order) else order
        ends = np.r_[starts[1:], len(order)] if len(order) else order
        return cls(ids, codes, order, starts, ends)

    @classmethod
    def of_column(cls, column: pa.ChunkedArray) -> DocumentRows:
        """From the sidecar's ``doc_id`` column, dictionary-encoded in its Arrow files: the
        codes come from the dictionaries, without comparing a million strings."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if column.num_chunks == 0:
            return cls.of([])
        if not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        unified = column.unify_dictionaries()
        dictionary = unified.chunk(0).dictionary
        indices = np.concatenate([to_numpy(c.indices) for c in unified.chunks])
        sorting = pc.sort_indices(dictionary)
        order = to_numpy(sorting)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        ids = np.asarray(dictionary.take(sorting).to_pylist(), dtype=object)
        codes = rank[indices]
        present = np.bincount(codes, minlength=len(ids)) > 0
        if not present.all():  # a dictionary may hold ids no row has any more
            ids, codes = ids[present], (np.cumsum(present) - 1)[codes]
        return cls.grouped(ids.astype(object), codes)

    def rows_of(self, document: int) -> np.ndarray:
        return self.order[self.starts[document] : self.ends[document]]

    def rows_of_many(self, documents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``documents``, one after the other, and where each one's begin."""
        import numpy as np

        lengths = self.ends[documents] - self.starts[documents]
        begins = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        within = np.arange(int(lengths.sum())) - np.repeat(begins, lengths)
        return self.order[np.repeat(self.starts[documents], lengths) + within], begins


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
        sidecar = Sidecar(folder, manifest.part_records, manifest.chunks)
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
        raise CorruptIndexError(f"index is unreadable: {_first_line(exc)}") from None
    _check_labels(labels, manifest)
    opened = _open_lexical(folder, manifest, manifest.chunks) if lexical else None
    return LoadedIndex(index_dir, manifest, sidecar, folder, opened, built)


def _load_graph(vectors: Path, manifest: Manifest) -> hnswlib.Index:
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
        raise CorruptIndexError(f"index is unreadable: {_first_line(exc)}") from None
    graph.set_ef(manifest.hnsw.ef)
    return graph


def _checkpoint_graph(folder: Path, manifest: Manifest) -> hnswlib.Index | None:
    """A checkpoint's graph, built from its parts' vectors; None (after checking the
    graph file's header) for a complete generation, whose graph is loaded when needed."""
    vectors = folder / VECTORS_FILE
    if manifest.complete or vectors.is_file():
        _check_hnsw_header(vectors, manifest)
        return None
    import numpy as np
    import pyarrow.parquet as pq

    graph = build_graph(np.zeros((0, manifest.model.dimension)), manifest.hnsw)
    graph.resize_index(max(manifest.vectors_total, 1))
    for record in manifest.part_records or ():
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
    from tasksift.lexical import LexicalIndex, LexicalRecord

    record = LexicalRecord.from_dict(manifest.lexical)
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


# ---------------------------------------------------------------- writing


CHUNK_COLUMNS: Mapping[str, str] = {
    "label": "int64",
    "doc_id": "string",
    "path": "string",
    "ordinal": "int32",
    "start": "int64",
    "end": "int64",
    "text": "string",
    "doc_sha256": "string",
    "doc_size": "int64",
    "doc_mtime_ns": "int64",
    "section": "string",  # heading path, null when none
    "page": "int32",  # 1-based page where the chunk starts (PDF), else null
    "line_start": "int64",  # 1-based lines of the file (text formats), else null
    "line_end": "int64",
    "reader": "string",  # kind:version of the reader that extracted the document
}
LOCATION_COLUMNS = ("section", "page", "line_start", "line_end", "reader")  # may be absent
TERMS_COLUMN = "terms"  # the chunk's analyzed terms: ids into lexical/vocabulary.json


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


def chunk_schema(manifest: Manifest) -> pa.Schema:
    """The schema of a sidecar part: every chunk column, the terms, and the manifest."""
    import pyarrow as pa

    return pa.schema(
        [
            *(pa.field(k, pa.type_for_alias(v)) for k, v in CHUNK_COLUMNS.items()),
            pa.field(TERMS_COLUMN, pa.list_(pa.uint32())),
        ],
        metadata={MANIFEST_KEY: manifest.to_json().encode()},
    )


@dataclass(frozen=True)
class StagedPart:
    """A part for a new generation, and the folder whose ``parts/`` holds its files (a
    previous generation, or a writer's pending folder)."""

    record: PartRecord
    source: Path


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    parts: Sequence[StagedPart],
    graph: hnswlib.Index | Path | Callable[[Path], None] | None,
    lexical: Callable[[Path, Sidecar], dict[str, Any]] | None = None,
    part_vectors: Callable[[StagedPart], np.ndarray] | None = None,
) -> Manifest:
    """Write a complete new generation and make it live; the old one stays until then.

    ``parts`` are hard-linked (copied where links fail). ``graph`` is an hnswlib index to
    save, a function that saves one to the path it is given (and may then let it go, so
    that the lexical side has its memory), the vectors file of a previous generation to
    reuse unchanged, or None for a checkpoint, whose parts keep their vectors instead
    (linked from their source, or written from ``part_vectors``). ``lexical`` writes the
    lexical side into the folder it is given, reading the new generation's sidecar, and
    returns its record. Returns the manifest as written (with file sizes and the lexical
    record).
    """
    name = f"gen-{time.time_ns():020d}"
    staging = index_dir / f".{name}.partial"
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        (staging / PARTS_DIR).mkdir(parents=True)
        records = [_stage_part(part, staging, graph is None, part_vectors) for part in parts]
        manifest = replace(manifest, parts=[r.to_dict() for r in records])
        if graph is not None:
            vectors = staging / VECTORS_FILE
            if isinstance(graph, Path):
                _link_or_copy(graph, vectors)
            elif callable(graph):
                graph(vectors)
            else:
                graph.save_index(str(vectors))
            fsync(vectors)
            manifest = replace(manifest, vectors_bytes=vectors.stat().st_size)
        if lexical is not None:
            sidecar = Sidecar(staging, records, sum(r.rows for r in records))
            manifest = replace(manifest, lexical=lexical(staging / LEXICAL_DIR, sidecar))
        copy = {"manifest": json.loads(manifest.to_json())}
        (staging / MANIFEST_FILE).write_text(json.dumps(copy, indent=1), encoding="utf-8")
        fsync(staging / MANIFEST_FILE)
        staging.rename(index_dir / name)
        _point_current(index_dir, name)
    except OSError as exc:
        _discard(index_dir, name)
        raise IndexWriteError(
            f"cannot write index {index_dir}: {exc.strerror or exc}; the previous index, if any, "
            "is unchanged"
        ) from None
    remove_stale_generations(index_dir)
    return manifest


def _stage_part(
    part: StagedPart,
    staging: Path,
    checkpoint: bool,
    part_vectors: Callable[[StagedPart], np.ndarray] | None,
) -> PartRecord:
    """Link a part's files into ``staging`` (and, in a checkpoint, its vectors)."""
    for source, target in zip(
        part.record.files(part.source), part.record.files(staging), strict=True
    ):
        _link_or_copy(source, target)
    if checkpoint:
        name = f"{part.record.name}{VECTORS_SUFFIX}"
        source, target = part.source / PARTS_DIR / name, staging / PARTS_DIR / name
        if source.is_file():
            _link_or_copy(source, target)
        elif part_vectors is not None:
            import numpy as np

            np.save(target, part_vectors(part))
    return part.record


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _point_current(index_dir: Path, name: str) -> None:
    pending = index_dir / f".{CURRENT_FILE}.{secrets.token_hex(3)}"
    try:
        pending.write_text(name + "\n", encoding="utf-8")
        fsync(pending)
        os.replace(pending, index_dir / CURRENT_FILE)
    finally:
        pending.unlink(missing_ok=True)
    fsync(index_dir)


def _discard(index_dir: Path, name: str) -> None:
    """Remove what a failed write of generation ``name`` left, unless it went live."""
    shutil.rmtree(index_dir / f".{name}.partial", ignore_errors=True)
    try:
        live = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        live = None
    if live != name:
        shutil.rmtree(index_dir / name, ignore_errors=True)


def remove_stale_generations(index_dir: Path) -> None:
    """Drop what killed or failed writes left, and all generations but the live one and the
    one before it. Only a holder of the writer lock may call this.

    The previous generation is kept so that a search that read ``CURRENT`` just before the
    swap can still open it.
    """
    try:
        live = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        live = None
    others = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and p.name != live)
    older = [p for p in others if live is not None and p.name < live]
    previous = older[-1] if older else None
    mine = index_dir / f"{PENDING_PREFIX}{os.getpid()}"  # this writer's own, in use
    pending = [p for p in index_dir.glob(f"{PENDING_PREFIX}*") if p != mine]
    stale_writes = [*index_dir.glob(".gen-*.partial"), *pending]
    for stale in [*(p for p in others if p != previous), *stale_writes]:
        shutil.rmtree(stale, ignore_errors=True)
    for pending in index_dir.glob(f".{CURRENT_FILE}.*"):
        pending.unlink(missing_ok=True)


def index_size_on_disk(index_dir: Path) -> dict[str, int]:
    """Bytes of each file of the live generation; a folder (``lexical/``) counts as one."""
    folder = generation_dir(index_dir)
    return {
        p.name: sum(f.stat().st_size for f in p.iterdir()) if p.is_dir() else p.stat().st_size
        for p in sorted(folder.iterdir())
    }
