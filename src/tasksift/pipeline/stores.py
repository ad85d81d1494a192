"""What a writer holds while it applies a plan: the sidecar's parts and the graph's slots.

Each keeps one side of a generation; the lexical side's vocabulary is
``tasksift.lexical.TermStore``, its terms are a column of the parts. They share labels: a
chunk's label is its graph slot and its sidecar row key. Labels only grow (a deleted slot
is not reused; compaction renumbers), so the parts, in order, stay sorted by label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tasksift.chunks import Chunk
from tasksift.documents import Document
from tasksift.index.generations import StagedPart
from tasksift.index.hnsw_file import build_graph
from tasksift.index.manifest import PARTS_DIR, HnswParams, Manifest
from tasksift.index.reader import LoadedIndex
from tasksift.index.sidecar import CHUNK_COLUMNS, TERMS_COLUMN, chunk_schema, write_part

if TYPE_CHECKING:
    from pathlib import Path

    import hnswlib
    import pyarrow as pa

COMPACT_WHEN_DELETED = 0.25  # rebuild the graph once this share of its slots is dead
PART_ROWS = 32768  # new rows buffered before they are written as a part
MERGE_SMALL_PARTS = 16  # this many consecutive parts under PART_ROWS are merged


class ChunkParts:
    """The sidecar being written: the live generation's parts, edits to them, new rows.

    New rows are buffered and written as parts to the writer's ``pending`` folder (so
    memory holds at most ``PART_ROWS`` of them); parts that lose rows, or whose documents
    were touched or relabelled, are rewritten when the generation is staged; the others
    are linked unchanged.
    """

    def __init__(self, existing: LoadedIndex | None, pending: Path) -> None:
        self.pending = pending
        self.parts: list[StagedPart] = []
        self.live = np.zeros(0, dtype=np.int64)  # labels of every row, in order
        self._documents: set[str] = set()  # ids of the documents with rows, new ones too
        self._edits: dict[str, tuple[set[int], dict[str, tuple[int, int]]]] = {}
        self._buffer: dict[str, list[Any]] = _empty_columns()
        self._relabel: np.ndarray | None = None
        self._counter = 0
        if existing is not None:
            records = list(existing.manifest.parts or ())
            self.parts = [StagedPart(r, existing.folder) for r in records]
            self.live = np.asarray(existing.labels, dtype=np.int64)
            self._documents = set(existing.documents.ids.tolist())

    @property
    def documents(self) -> int:
        return len(self._documents)

    def __len__(self) -> int:
        return len(self.live)

    def migrate(self, existing: LoadedIndex, terms: list[np.ndarray], manifest: Manifest) -> None:
        """Take a format 1 sidecar (one file, terms elsewhere) into a part of its own."""
        table = existing.sidecar.table(list(CHUNK_COLUMNS))
        self.parts = [self._write(_with_terms(table, terms), manifest)]

    def touch(self, touched: dict[str, tuple[int, int]]) -> None:
        """Record new sizes and mtimes of documents whose content did not change."""
        if touched:
            for part in self._parts_holding(set(touched)):
                self._edits.setdefault(part.record.name, (set(), {}))[1].update(touched)

    def drop(self, doc_ids: set[str]) -> list[int]:
        """Remove the chunks of ``doc_ids`` (stored ones); their labels."""
        dropped: list[int] = []
        for part in self._parts_holding(doc_ids):
            table = self._read(part, ["label", "doc_id"])
            ids = table.column("doc_id").to_pylist()
            mask = np.fromiter((doc_id in doc_ids for doc_id in ids), dtype=bool, count=len(ids))
            labels = table.column("label").to_numpy()[mask]
            self._edits.setdefault(part.record.name, (set(), {}))[0].update(labels.tolist())
            dropped.extend(labels.tolist())
        self.live = self.live[~np.isin(self.live, dropped)]
        self._documents -= doc_ids
        return sorted(dropped)

    def add(
        self,
        labels: Sequence[int],
        chunks: Sequence[Chunk],
        documents: Sequence[Document],
        terms: Sequence[np.ndarray],
        source: str | None,
        manifest: Manifest,
    ) -> None:
        """Rows of new chunks; ``source`` is the path of every row of a JSON Lines corpus."""
        by_id = {d.doc_id: d for d in documents}
        columns = self._buffer
        for label, chunk, ids in zip(labels, chunks, terms, strict=True):
            document = by_id[chunk.doc_id]
            values = (label, chunk.doc_id, source or chunk.doc_id, chunk.ordinal, chunk.start,
                      chunk.end, chunk.text, document.sha256, document.size, document.mtime_ns,
                      chunk.section, chunk.page, chunk.line_start, chunk.line_end,
                      document.reader, ids)  # fmt: skip
            for name, value in zip(columns, values, strict=True):
                columns[name].append(value)
            self._documents.add(chunk.doc_id)
        self.live = np.concatenate([self.live, np.asarray(labels, dtype=np.int64)])
        if len(columns["label"]) >= PART_ROWS:
            self.flush(manifest)

    def flush(self, manifest: Manifest) -> None:
        """Write the buffered rows as a part."""
        if self._buffer["label"]:
            import pyarrow as pa

            table = pa.Table.from_pydict(self._buffer, schema=chunk_schema(manifest))
            self._buffer = _empty_columns()
            self.parts.append(self._write(table, manifest))

    def relabel(self, old_to_new: np.ndarray) -> None:
        """Follow a compaction of the graph: ``old_to_new[label]`` is each label's new one."""
        self._relabel = old_to_new
        self.live = old_to_new[self.live]

    def staged(self, manifest: Manifest) -> list[StagedPart]:
        """The parts of the next generation: edited ones rewritten, small ones merged."""
        self.flush(manifest)
        staged = []
        for part in self.parts:
            if part.record.name in self._edits or self._relabel is not None:
                part = self._rewrite(part, manifest)
            if part is not None:
                staged.append(part)
        self.parts, self._edits, self._relabel = self._merged(staged, manifest), {}, None
        return list(self.parts)

    def rebase(self, generation: Path) -> None:
        """After a commit: link the parts from the generation that now holds them."""
        self.parts = [StagedPart(part.record, generation) for part in self.parts]

    # -- parts

    def _parts_holding(self, doc_ids: set[str]) -> list[StagedPart]:
        holding = []
        for part in self.parts:
            column = self._read(part, ["doc_id"]).column("doc_id")
            if not doc_ids.isdisjoint(column.unique().to_pylist()):
                holding.append(part)
        return holding

    def _read(self, part: StagedPart, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(part.record.files(part.source)[0], columns=columns)

    def _write(self, table: pa.Table, manifest: Manifest) -> StagedPart:
        self._counter += 1
        name = f"p{time_stamp()}-{self._counter:05d}"
        record = write_part(self.pending / PARTS_DIR, name, table, chunk_schema(manifest))
        return StagedPart(record, self.pending)

    def _rewrite(self, part: StagedPart, manifest: Manifest) -> StagedPart | None:
        """``part`` without its dropped rows, with touched stats and new labels."""
        import pyarrow as pa

        dropped, touched = self._edits.get(part.record.name, (set(), {}))
        table = self._read(part)
        labels = table.column("label").to_numpy()
        if dropped:
            table = table.filter(pa.array(~np.isin(labels, list(dropped))))
            labels = table.column("label").to_numpy()
        if touched:
            table = _touched(table, touched)
        if self._relabel is not None:
            table = table.set_column(0, "label", pa.array(self._relabel[labels]))
        return self._write(table, manifest) if table.num_rows else None

    def _merged(self, parts: list[StagedPart], manifest: Manifest) -> list[StagedPart]:
        """Runs of at least ``MERGE_SMALL_PARTS`` consecutive small parts, merged."""
        merged: list[StagedPart] = []
        run: list[StagedPart] = []
        for part in [*parts, None]:
            if part is not None and part.record.rows < PART_ROWS:
                run.append(part)
                continue
            merged.extend(self._merge(run, manifest) if len(run) >= MERGE_SMALL_PARTS else run)
            run = []
            if part is not None:
                merged.append(part)
        return merged

    def _merge(self, run: list[StagedPart], manifest: Manifest) -> list[StagedPart]:
        import pyarrow as pa

        merged, tables, rows = [], [], 0
        for i, part in enumerate(run):
            tables.append(self._read(part))
            rows += part.record.rows
            if rows >= PART_ROWS or i == len(run) - 1:
                table = pa.concat_tables([t.cast(chunk_schema(manifest)) for t in tables])
                merged.append(self._write(table, manifest))
                tables, rows = [], 0
        return merged


def time_stamp() -> str:
    import time

    return f"{time.time_ns():020d}"


def _empty_columns() -> dict[str, list[Any]]:
    return {name: [] for name in [*CHUNK_COLUMNS, TERMS_COLUMN]}


def _with_terms(table: pa.Table, terms: list[np.ndarray]) -> pa.Table:
    import pyarrow as pa

    offsets = np.concatenate([[0], np.cumsum([len(t) for t in terms])]).astype(np.int32)
    flat = np.concatenate(terms).astype(np.uint32) if terms else np.zeros(0, np.uint32)
    column = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=pa.uint32()))
    return table.append_column(TERMS_COLUMN, column)


def _touched(table: pa.Table, touched: dict[str, tuple[int, int]]) -> pa.Table:
    import pyarrow as pa

    doc_ids = table.column("doc_id").to_pylist()
    sizes = table.column("doc_size").to_pylist()
    mtimes = table.column("doc_mtime_ns").to_pylist()
    for i, doc_id in enumerate(doc_ids):
        if doc_id in touched:
            sizes[i], mtimes[i] = touched[doc_id]
    names = table.column_names
    table = table.set_column(names.index("doc_size"), "doc_size", pa.array(sizes, pa.int64()))
    return table.set_column(
        names.index("doc_mtime_ns"), "doc_mtime_ns", pa.array(mtimes, pa.int64())
    )


class VectorSlots:
    """The hnswlib graph being updated. New vectors take labels after the last one."""

    def __init__(self, existing: LoadedIndex | None, dimension: int, params: HnswParams) -> None:
        self.existing = existing
        self.dimension = dimension
        self.params = params
        self._graph: hnswlib.Index | None = None
        self.next_label = existing.manifest.vectors_total if existing else 0

    @property
    def changed(self) -> bool:
        """Whether the graph was touched (else the previous file is reused as it is)."""
        return self._graph is not None

    @property
    def graph(self) -> hnswlib.Index:
        if self._graph is None:
            if self.existing is not None:
                self._graph = self.existing.graph
            else:
                self._graph = build_graph(np.zeros((0, self.dimension)), self.params)
        return self._graph

    def save_and_release(self, path: Path) -> None:
        """Save the graph for a complete generation, then let it go: what comes after (the
        BM25 matrix) gets its memory."""
        self.graph.save_index(str(path))
        self._graph = None

    def delete(self, labels: Iterable[int]) -> None:
        for label in labels:
            self.graph.mark_deleted(label)

    def add(self, vectors: np.ndarray) -> list[int]:
        """Store ``vectors`` under new labels; their labels."""
        count = len(vectors)
        graph = self.graph
        needed = self.next_label + count
        if needed > graph.get_max_elements():
            graph.resize_index(max(needed, int(graph.get_max_elements() * 1.5)))
        labels = list(range(self.next_label, needed))
        self.next_label = needed
        if count:
            graph.add_items(vectors, np.asarray(labels, dtype=np.int64))
        return labels

    def vectors_of(self) -> Callable[[StagedPart], np.ndarray]:
        """A function giving a part's vectors from the graph (for checkpoints)."""

        def of(part: StagedPart) -> np.ndarray:
            import pyarrow.parquet as pq

            labels = pq.read_table(part.record.files(part.source)[0], columns=["label"]).column(0)
            vectors = self.graph.get_items(labels.to_numpy(), return_type="numpy")
            return np.asarray(vectors, dtype=np.float32).reshape(len(labels), -1)

        return of

    def compact_if_sparse(self, live: np.ndarray) -> np.ndarray | None:
        """Rebuild the graph from the ``live`` labels when deletions left it mostly empty.

        Returns the new label of each old one (live ones become 0, 1, ... in label
        order), or None.
        """
        if self._graph is None or self.next_label - len(live) <= (
            COMPACT_WHEN_DELETED * self.next_label
        ):
            return None
        old = np.sort(live)
        vectors = np.asarray(self._graph.get_items(old, return_type="numpy"), dtype=np.float32)
        self._graph = build_graph(vectors.reshape(len(old), -1), self.params)
        mapping = np.full(self.next_label, -1, dtype=np.int64)
        mapping[old] = np.arange(len(old))
        self.next_label = len(old)
        return mapping
