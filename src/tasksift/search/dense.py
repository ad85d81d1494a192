"""The dense retriever: encode queries with the index's query prompt and search the graph.

Encoding uses the index's checked ONNX encoder when it has one (see ``onnx``), else
sentence-transformers. Searches run on the hnswlib graph (filtered inside it when asked),
or exactly over the stored vectors: for a small filtered subset, for a few queries (cheaper
than loading the graph), and whenever the graph cannot return as many neighbours as asked
for (hnswlib raises when a filter, or deleted elements of an updated graph, leave too few
reachable).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from tasksift.index.manifest import Manifest
from tasksift.index.reader import LoadedIndex
from tasksift.index.rows import DocumentRows
from tasksift.search.retriever import Ranked, RowSubset
from tasksift.vectors.embedder import Embedder, load_embedder


def load_query_embedder(manifest: Manifest) -> Embedder:
    """The index's model, checked to have the weights the index was built with."""
    return load_embedder(
        manifest.model.name,
        trust_remote_code=manifest.model.trust_remote_code,
        expected_fingerprint=manifest.model.fingerprint,
        adapter=manifest.adapter,
    )


def open_query_embedder(index_dir: Path, manifest: Manifest) -> tuple[Embedder, str | None]:
    """The fast ONNX query encoder when the index has a checked one, else the torch model.

    The second value is a note for the user when the fast path had to be skipped.
    Setting TASKSIFT_FAST_PATH=0 asks for the torch path.
    """
    if os.environ.get("TASKSIFT_FAST_PATH", "1") == "0":
        return load_query_embedder(manifest), None
    from tasksift.onnx.embedder import FastPathRecord, load_fast_embedder
    from tasksift.onnx.runtime import FastPathUnavailable

    try:
        record = FastPathRecord.from_dict(manifest.fast_path)
        return load_fast_embedder(index_dir, record), None
    except FastPathUnavailable as exc:
        note = f"fast query path unavailable ({exc}); using sentence-transformers"
    return load_query_embedder(manifest), note


def encode_queries(embedder: Embedder, manifest: Manifest, queries: list[str]) -> np.ndarray:
    prompts = manifest.prompts
    return embedder.encode(queries, prompts.query, adapter=prompts.query_adapter)


T = TypeVar("T")
EXACT_FILTER_LIMIT = 50_000  # chunks; a filtered subset up to this size is searched exactly


class DenseRetriever:
    """Cosine similarity of query vectors and the stored chunk vectors."""

    name = "dense"

    def __init__(
        self, index: LoadedIndex, embedder: Embedder | None, exact: bool | None = None
    ) -> None:
        self.index = index
        self.embedder = embedder  # None: only given vectors are searched (``for_vectors``)
        self.exact = exact  # True: exactly; False: the graph; None: whichever costs less

    def query(self, texts: Sequence[str], subset: RowSubset | None) -> list[DenseQuery]:
        if self.embedder is None:
            raise ValueError("a dense retriever without a model searches given vectors only")
        return self.for_vectors(
            encode_queries(self.embedder, self.index.manifest, list(texts)), subset
        )

    def for_vectors(self, vectors: np.ndarray, subset: RowSubset | None) -> list[DenseQuery]:
        """One ``DenseQuery`` per (unit) vector, searched together."""
        vectors = np.atleast_2d(vectors)
        exact = self.exact
        if exact is None:
            small = subset is not None and len(subset) <= EXACT_FILTER_LIMIT
            exact = small or self.index.exact_is_cheaper(len(vectors))  # than loading the graph
        batch = _Batch(self.index, vectors, subset, exact)
        return [DenseQuery(batch, i) for i in range(len(vectors))]


@dataclass(frozen=True)
class DenseQuery:
    """One query of a batch; its candidates come from one graph search for the batch."""

    batch: _Batch
    position: int

    @property
    def vector(self) -> np.ndarray:
        return self.batch.vectors[self.position]

    def top_rows(self, count: int) -> Ranked:
        return self.batch.nearest(count)[self.position]

    def top_documents(self, count: int) -> Ranked:
        return self.batch.documents(count)[self.position]

    def of_rows(self, rows: np.ndarray) -> np.ndarray:
        index = self.batch.index
        return index.vectors.of(index.labels[np.asarray(rows, dtype=np.int64)]) @ self.vector


@dataclass
class _Batch:
    """The vectors of a batch and what was found for them, by the graph or exactly."""

    index: LoadedIndex
    vectors: np.ndarray
    subset: RowSubset | None
    exact: bool
    _found: dict[tuple[str, int], list[Ranked]] = field(default_factory=dict)

    @functools.cached_property
    def _labels(self) -> np.ndarray:
        return self.index.labels if self.subset is None else self.subset.labels

    def nearest(self, count: int) -> list[Ranked]:
        """Each vector's ``count`` nearest rows."""
        return self._cached("rows", count, self._graph_rows, self._exact_rows)

    def documents(self, count: int) -> list[Ranked]:
        """Each vector's ``count`` nearest documents, each as its nearest row."""
        return self._cached("documents", count, self._graph_documents, self._exact_documents)

    def _cached(
        self,
        kind: str,
        count: int,
        graph: Callable[[int], list[Ranked]],
        exactly: Callable[[int], list[Ranked]],
    ) -> list[Ranked]:
        key = (kind, count)
        if key not in self._found:
            self._found[key] = self._graph_or_exact(lambda: graph(count), lambda: exactly(count))
        return self._found[key]

    def _graph_or_exact(self, graph: Callable[[], T], exactly: Callable[[], T]) -> T:
        """``graph()``, else exactly, from now on, when hnswlib cannot return as many
        neighbours as asked for (it raises RuntimeError when a filter, or deleted elements
        of an updated graph, leave too few reachable)."""
        if not self.exact:
            try:
                return graph()
            except RuntimeError:
                self.exact = True
        return exactly()

    # -- the graph

    def _knn(self, vectors: np.ndarray, count: int) -> list[Ranked]:
        count = min(count, len(self._labels))
        if count == 0:
            return [Ranked.empty() for _ in vectors]
        graph = self.index.graph
        graph.set_ef(max(self.index.manifest.hnsw.ef, count))
        if self.subset is None:
            labels, distances = graph.knn_query(vectors, k=count)
        else:
            labels, distances = graph.knn_query(
                vectors, k=count, num_threads=1, filter=self.subset.__contains__
            )
        rows = np.searchsorted(self.index.labels, labels.astype(np.int64))
        similarities = 1.0 - distances.astype(np.float64)
        return [Ranked(r, s) for r, s in zip(rows, similarities, strict=True)]

    def _graph_rows(self, count: int) -> list[Ranked]:
        return self._knn(self.vectors, count)

    def _graph_documents(self, count: int) -> list[Ranked]:
        """From the nearest rows, widened for the vectors that need it until ``count``
        distinct documents are found or the rows are exhausted (a document may own
        several of the nearest rows)."""
        total = len(self._labels)
        asked = min(total, max(4 * count, 50))
        found = [self._first_per_document(r, count) for r in self._knn(self.vectors, asked)]
        while asked < total:
            short = [i for i, ranked in enumerate(found) if len(ranked.rows) < count]
            if not short:
                break
            asked = min(total, asked * 4)
            for i, ranked in zip(short, self._knn(self.vectors[short], asked), strict=True):
                found[i] = self._first_per_document(ranked, count)
        return found

    def _first_per_document(self, ranked: Ranked, count: int) -> Ranked:
        """The first (best) row of each document in ``ranked``, for the first ``count``."""
        codes = self.index.documents.codes[ranked.rows]
        _, first = np.unique(codes, return_index=True)
        keep = np.sort(first)[:count]
        return Ranked(ranked.rows[keep], ranked.scores[keep])

    # -- exactly

    def _exact_rows(self, count: int) -> list[Ranked]:
        """Nearest rows by exact cosine; ties go to the lower label."""
        subset = self._labels
        count = min(count, len(subset))
        if count == 0:
            return [Ranked.empty() for _ in self.vectors]
        found = []
        for vector in self.vectors:
            scores = self.index.vectors.scores(subset, vector)
            best = np.argpartition(-scores, count - 1)[:count]
            best = best[np.lexsort((subset[best], -scores[best]))]
            rows = np.searchsorted(self.index.labels, subset[best].astype(np.int64))
            found.append(Ranked(rows, scores[best]))
        return found

    def _exact_documents(self, count: int) -> list[Ranked]:
        """Nearest documents by exact cosine of their best rows; ties to the lower document."""
        labels = self._labels
        if len(labels) == 0:
            return [Ranked.empty() for _ in self.vectors]
        groups = self._groups
        found = []
        for vector in self.vectors:
            scores = self.index.vectors.scores(labels, vector)
            per_document = np.maximum.reduceat(scores[groups.order], groups.starts)
            best_rows, best_scores = [], []
            for document in np.argsort(-per_document, kind="stable")[:count]:
                segment = groups.rows_of(document)
                i = int(segment[np.argmax(scores[segment])])
                best_rows.append(i)
                best_scores.append(scores[i])
            rows = np.searchsorted(self.index.labels, labels[best_rows].astype(np.int64))
            found.append(Ranked(rows, np.asarray(best_scores, dtype=np.float32)))
        return found

    @functools.cached_property
    def _groups(self) -> DocumentRows:
        """The rows of the subset grouped by document (the index's own grouping for all)."""
        if self.subset is None:
            return self.index.documents
        codes = self.index.documents.codes[self.subset.mask]
        used, inverse = np.unique(codes, return_inverse=True)
        return DocumentRows.grouped(self.index.documents.ids[used], inverse)
