"""What a writer holds while it applies a plan: the chunk rows and the graph's slots.

Each keeps one side of a generation; the lexical side is ``tasksift.lexical.TermStore``.
They share labels: a chunk's label is its graph slot, its sidecar row key and its key in
the term store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tasksift.chunks import Chunk
from tasksift.documents import Document
from tasksift.index import CHUNK_COLUMNS, HnswParams, LoadedIndex, build_graph

if TYPE_CHECKING:
    import hnswlib
    import pyarrow as pa

COMPACT_WHEN_DELETED = 0.25  # rebuild the graph once this share of its slots is dead


class ChunkRows:
    """The sidecar's rows as column lists, keyed by label."""

    def __init__(self, existing: LoadedIndex | None) -> None:
        self.columns: dict[str, list[Any]] = (
            existing.rows.to_pydict() if existing else {name: [] for name in CHUNK_COLUMNS}
        )

    @property
    def labels(self) -> list[int]:
        return self.columns["label"]

    def __len__(self) -> int:
        return len(self.columns["label"])

    def touch(self, touched: dict[str, tuple[int, int]]) -> None:
        """Record new sizes and mtimes of documents whose content did not change."""
        for i, doc_id in enumerate(self.columns["doc_id"]):
            if doc_id in touched:
                self.columns["doc_size"][i], self.columns["doc_mtime_ns"][i] = touched[doc_id]

    def drop(self, doc_ids: set[str]) -> list[int]:
        """Remove the chunks of ``doc_ids``; their labels."""
        keep = [i for i, doc_id in enumerate(self.columns["doc_id"]) if doc_id not in doc_ids]
        dropped = sorted(set(self.labels) - {self.labels[i] for i in keep})
        self.columns = {name: [values[i] for i in keep] for name, values in self.columns.items()}
        return dropped

    def add(
        self,
        labels: Sequence[int],
        chunks: Sequence[Chunk],
        documents: Sequence[Document],
        source: str | None,
    ) -> None:
        """Rows of new chunks; ``source`` is the path of every row of a JSON Lines corpus."""
        by_id = {d.doc_id: d for d in documents}
        for label, chunk in zip(labels, chunks, strict=True):
            document = by_id[chunk.doc_id]
            values = {
                "label": label,
                "doc_id": chunk.doc_id,
                "path": source or chunk.doc_id,
                "ordinal": chunk.ordinal,
                "start": chunk.start,
                "end": chunk.end,
                "text": chunk.text,
                "doc_sha256": document.sha256,
                "doc_size": document.size,
                "doc_mtime_ns": document.mtime_ns,
                "section": chunk.section,
                "page": chunk.page,
                "line_start": chunk.line_start,
                "line_end": chunk.line_end,
                "reader": document.reader,
            }
            for name, value in values.items():
                self.columns[name].append(value)

    def relabel(self, old_to_new: dict[int, int]) -> None:
        self.columns["label"] = [old_to_new[label] for label in self.labels]

    def table(self) -> pa.Table:
        import pyarrow as pa

        schema = pa.schema([(k, pa.type_for_alias(v)) for k, v in CHUNK_COLUMNS.items()])
        return pa.Table.from_pydict(self.columns, schema=schema).sort_by("label")


class VectorSlots:
    """The hnswlib graph being updated, with the labels it has free."""

    def __init__(self, existing: LoadedIndex | None, dimension: int, params: HnswParams) -> None:
        self.existing = existing
        self.dimension = dimension
        self.params = params
        self._graph: hnswlib.Index | None = None
        self.next_label = existing.manifest.vectors_total if existing else 0
        live = set(existing.rows.column("label").to_pylist()) if existing else set()
        # Slots of deleted chunks, reused by new ones before the graph grows.
        self.free = sorted(set(range(self.next_label)) - live)

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

    def delete(self, labels: Iterable[int]) -> None:
        labels = list(labels)
        for label in labels:
            self.graph.mark_deleted(label)
        self.free = sorted([*self.free, *labels])

    def add(self, vectors: np.ndarray) -> list[int]:
        """Store ``vectors`` in free slots first, then new ones; their labels."""
        count = len(vectors)
        reused, self.free = self.free[:count], self.free[count:]
        fresh = list(range(self.next_label, self.next_label + count - len(reused)))
        graph = self.graph
        needed = self.next_label + len(fresh)
        if needed > graph.get_max_elements():
            graph.resize_index(max(needed, int(graph.get_max_elements() * 1.5)))
        self.next_label = needed
        labels = reused + fresh
        if count:
            graph.add_items(vectors, np.asarray(labels, dtype=np.int64))
        return labels

    def compact_if_sparse(self, live: Sequence[int]) -> dict[int, int] | None:
        """Rebuild the graph from the ``live`` labels when deletions left it mostly empty.

        Returns the new label of each live one (0, 1, ... in label order), or None.
        """
        if self._graph is None or self.next_label - len(live) <= (
            COMPACT_WHEN_DELETED * self.next_label
        ):
            return None
        old = sorted(live)
        vectors = np.asarray(self._graph.get_items(old), dtype=np.float32)
        self._graph = build_graph(vectors.reshape(len(old), -1), self.params)
        self.next_label, self.free = len(old), []
        return {label: new for new, label in enumerate(old)}
