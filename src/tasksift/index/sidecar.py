"""The sidecar: a generation's chunk rows, stored as immutable parts.

Each part is written once, by the checkpoint or update that added its chunks, and later
generations hard-link it, so that a commit costs what it adds. A part is two files:

- ``parts/<name>.parquet``: every column of its chunks (texts, locations, document
  hashes and stats, analyzed terms), zstd-compressed, with the manifest of the
  generation that wrote it in the schema metadata: the durable record of the chunks.
- ``parts/<name>.arrow``: the columns a search shows or filters on (label, document,
  path, offsets, text, locations), uncompressed Arrow IPC, memory-mapped by searches:
  a hit costs the pages of its own row, not a row group's decompression.

Rows of the parts, in order, are sorted by label. An index written before parts existed
(format 1) has a single ``chunks.parquet`` and no Arrow file; it is read as one part.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasksift.index.manifest import MANIFEST_KEY, Manifest, PartRecord

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasksift.lexical.terms import TermLists

LEGACY_CHUNKS_FILE = "chunks.parquet"
ROW_GROUP_ROWS = 8192
IPC_BATCH_ROWS = 65536
VECTORS_SUFFIX = ".vectors.npy"  # a part's vectors, in a checkpoint
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


SEARCH_COLUMNS = (
    "label", "doc_id", "path", "ordinal", "start", "end", "text", "section", "page",
    "line_start", "line_end",
)  # fmt: skip


def write_part(folder: Path, name: str, table: pa.Table, schema: pa.Schema) -> PartRecord:
    """Write ``table`` (sorted by label) as part ``name`` under ``folder`` (a parts dir)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    parquet = folder / f"{name}.parquet"
    arrow = folder / f"{name}.arrow"
    table = table.select(schema.names).cast(schema)
    pq.write_table(table, parquet, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    shown = table.select(list(SEARCH_COLUMNS))
    doc_ids = pa.chunked_array([shown.column("doc_id").combine_chunks().dictionary_encode()])
    shown = shown.set_column(1, "doc_id", doc_ids)  # one dictionary for the whole file
    with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_file(sink, shown.schema) as writer:
        writer.write_table(shown, max_chunksize=IPC_BATCH_ROWS)
    for path in (parquet, arrow):
        fsync(path)
    return PartRecord(name, table.num_rows, parquet.stat().st_size, arrow.stat().st_size)


_NUMPY_TYPES = {
    "int8": "i1", "int16": "<i2", "int32": "<i4", "int64": "<i8", "uint8": "u1",
    "uint16": "<u2", "uint32": "<u4", "uint64": "<u8", "float": "<f4", "double": "<f8",
}  # fmt: skip


def to_numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A null-free Arrow array of integers or floats as numpy, from its buffers.

    pyarrow's own ``to_numpy`` imports pandas when pandas is installed (Ray brings it):
    0.3 s of every cold search. Reading the data buffer needs nothing.
    """
    import numpy as np
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        parts = [to_numpy(chunk) for chunk in values.chunks]
        dtype = _NUMPY_TYPES[str(values.type)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
    if values.null_count:
        raise ValueError("to_numpy takes arrays without nulls")
    dtype = np.dtype(_NUMPY_TYPES[str(values.type)])
    data = values.buffers()[1]
    if data is None:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(
        data, dtype=dtype, count=len(values), offset=values.offset * dtype.itemsize
    )


def fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Sidecar:
    """The rows of a generation, read by column and by row, never all at once.

    ``column`` reads one column of every part (Parquet column projection); ``rows`` reads
    given rows from the memory-mapped Arrow files. Format 1 indexes have no Arrow files:
    their single Parquet file is read whole the first time a row is asked for.
    """

    def __init__(self, folder: Path, parts: Sequence[PartRecord] | None, total: int) -> None:
        self.folder = folder
        self.parts = tuple(parts) if parts is not None else None
        self.num_rows = total

    @property
    def legacy(self) -> bool:
        return self.parts is None

    def parquet_files(self) -> list[Path]:
        if self.parts is None:
            return [self.folder / LEGACY_CHUNKS_FILE]
        return [part.files(self.folder)[0] for part in self.parts]

    @functools.cached_property
    def _batches(self) -> tuple[list[pa.RecordBatch], np.ndarray]:
        """Every record batch of the Arrow files (memory-mapped), with their first rows."""
        import numpy as np
        import pyarrow as pa

        if self.parts is None:
            table = self.table(list(SEARCH_COLUMNS))
            batches = table.combine_chunks().to_batches() or [table.to_batches()]
        else:
            batches = []
            for part in self.parts:
                reader = pa.ipc.open_file(pa.memory_map(str(part.files(self.folder)[1])))
                batches.extend(reader.get_batch(i) for i in range(reader.num_record_batches))
        batches = [b for b in batches if b.num_rows]
        starts = np.cumsum([0, *(b.num_rows for b in batches)])
        return batches, starts

    def table(self, columns: list[str], files: list[Path] | None = None) -> pa.Table:
        """Whole columns of every part (or of the given part ``files``), as one table
        (null columns for ones a format 1 index lacks)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        pieces = []
        for path in files or self.parquet_files():
            present = set(pq.read_schema(path).names)
            table = pq.read_table(path, columns=[c for c in columns if c in present])
            for name in columns:
                if name not in present:
                    kind = pa.type_for_alias(CHUNK_COLUMNS[name])
                    table = table.append_column(pa.field(name, kind), pa.nulls(len(table), kind))
            pieces.append(table.select(columns))
        return pa.concat_tables(pieces) if pieces else pa.table({c: [] for c in columns})

    def search_column(self, name: str) -> pa.ChunkedArray:
        """A column search uses (``SEARCH_COLUMNS``), from the memory-mapped files."""
        import pyarrow as pa

        batches, _ = self._batches
        if not batches:
            return pa.chunked_array([], pa.string())
        return pa.chunked_array([b.column(name) for b in batches])

    def rows(
        self, positions: Sequence[int], columns: Sequence[str] = SEARCH_COLUMNS
    ) -> list[dict[str, Any]]:
        """The given rows (by position), as dicts of ``columns``."""
        import numpy as np

        batches, starts = self._batches
        where = np.asarray(positions, dtype=np.int64)
        which = np.searchsorted(starts, where, side="right") - 1
        out = []
        for position, b in zip(where.tolist(), which.tolist(), strict=True):
            row = batches[b].slice(position - int(starts[b]), 1)
            out.append({name: row.column(name)[0].as_py() for name in columns})
        return out


def read_terms(files: Sequence[Path]) -> TermLists:
    """The ``terms`` column of sidecar part files, read a part at a time into one array
    (sized from the Parquet metadata), so that memory holds the terms about once."""
    import numpy as np
    import pyarrow.parquet as pq

    from tasksift.lexical.terms import TermLists

    bound = sum(_values_in(pq.ParquetFile(path).metadata, "terms") for path in files)
    ids = np.empty(bound, dtype=np.uint32)
    counts, filled = [], 0
    for path in files:
        for chunk in pq.read_table(path, columns=["terms"]).column(0).chunks:
            offsets = to_numpy(chunk.offsets)
            values = to_numpy(chunk.values)[offsets[0] : offsets[-1]]
            ids[filled : filled + len(values)] = values
            filled += len(values)
            counts.append(np.diff(offsets))
    lengths = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    return TermLists(ids[:filled], np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


def _values_in(metadata: pq.FileMetaData, column: str) -> int:
    """How many values (list elements, and a slot per empty list) a column holds."""
    total = 0
    for group in range(metadata.num_row_groups):
        chunks = metadata.row_group(group)
        for i in range(chunks.num_columns):
            if chunks.column(i).path_in_schema.split(".")[0] == column:
                total += chunks.column(i).num_values
    return total
