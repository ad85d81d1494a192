"""The dense retriever: encode queries with the index's query prompt and search the graph.

Encoding uses the checked ONNX fast path when the index has one (see ``fastpath``), else
sentence-transformers. Searches run on the hnswlib graph (filtered inside it when asked),
or exactly over the stored vectors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasksift.index.manifest import Manifest
from tasksift.index.reader import LoadedIndex
from tasksift.index.rows import DocumentRows
from tasksift.options import DocumentFilter
from tasksift.search.hits import Hit, best_per_document, hit_at
from tasksift.vectors.embedder import Embedder, load_embedder


def load_query_embedder(manifest: Manifest) -> Embedder:
    """The index's model, checked to have the weights the index was built with."""
    return load_embedder(
        manifest.model.name,
        trust_remote_code=manifest.model.trust_remote_code,
        expected_fingerprint=manifest.model.fingerprint,
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


def nearest_chunks(
    index: LoadedIndex, vectors: np.ndarray, count: int, allowed: AllowedLabels | None = None
) -> list[list[Hit]]:
    """For each query vector, the ``count`` nearest chunks, best first (one hnswlib call).

    With ``allowed``, only those chunks are candidates, filtered inside the graph search.
    """
    limit = index.manifest.chunks if allowed is None else len(allowed.labels)
    count = min(count, limit)
    if count == 0:
        return [[] for _ in range(len(vectors))]
    index.graph.set_ef(max(index.manifest.hnsw.ef, count))
    if allowed is None:
        labels, distances = index.graph.knn_query(np.atleast_2d(vectors), k=count)
    else:
        labels, distances = index.graph.knn_query(
            np.atleast_2d(vectors), k=count, num_threads=1, filter=allowed.__contains__
        )
    return [
        [
            hit_at(index, int(label), 1.0 - float(distance), rank)
            for rank, (label, distance) in enumerate(zip(row_l, row_d, strict=True), start=1)
        ]
        for row_l, row_d in zip(labels, distances, strict=True)
    ]


@dataclass(frozen=True)
class AllowedLabels:
    """The labels of the chunks a filtered search may return."""

    labels: np.ndarray
    members: frozenset[int]

    def __contains__(self, label: int) -> bool:
        return label in self.members

    @classmethod
    def of(cls, index: LoadedIndex, where: DocumentFilter) -> AllowedLabels:
        groups = index.documents  # the filter is matched once per document, not per chunk
        keep = np.fromiter((where.matches(str(d)) for d in groups.ids), bool, len(groups.ids))
        labels = index.labels[keep[groups.codes]] if len(groups.codes) else index.labels
        return cls(labels, frozenset(labels.tolist()))


def top_documents(
    index: LoadedIndex, vectors: np.ndarray, k: int, allowed: AllowedLabels | None = None
) -> list[list[Hit]]:
    """For each query vector, the top ``k`` documents, each as its best chunk.

    Fetches more chunks than ``k`` (a document may own several of the nearest) and widens
    the search, for the queries that need it, until ``k`` distinct documents are found or
    the candidates are exhausted.
    """
    total = index.manifest.chunks if allowed is None else len(allowed.labels)
    count = min(total, max(4 * k, 50))
    results = [best_per_document(h, k) for h in nearest_chunks(index, vectors, count, allowed)]
    while count < total:
        short = [i for i, docs in enumerate(results) if len(docs) < k]
        if not short:
            break
        count = min(total, count * 4)
        widened = nearest_chunks(index, vectors[short], count, allowed)
        for i, hits in zip(short, widened, strict=True):
            results[i] = best_per_document(hits, k)
    return results


def exact_search(
    index: LoadedIndex,
    vectors: np.ndarray,
    k: int,
    labels: np.ndarray | None = None,
    per_document: bool = True,
) -> list[list[Hit]]:
    """Brute-force cosine over the stored vectors (all, or those of ``labels``).

    Returns the top ``k`` documents, each as its best chunk, or with ``per_document=False``
    the top ``k`` chunks.
    """
    labels = index.labels if labels is None else np.asarray(labels)
    if len(labels) == 0:
        return [[] for _ in range(len(np.atleast_2d(vectors)))]
    if not per_document:
        return [
            [hit_at(index, int(label), float(score), rank)
             for rank, (label, score) in enumerate(zip(c.labels, c.scores, strict=True), 1)]
            for c in exact_chunks(index, vectors, k, labels)
        ]  # fmt: skip
    groups = _documents_of(index, labels)
    order, starts = groups.order, groups.starts
    results = []
    for vector in np.atleast_2d(vectors):
        scores = index.vectors.scores(labels, vector)
        per_doc = np.maximum.reduceat(scores[order], starts)
        hits = []
        for rank, doc in enumerate(np.argsort(-per_doc, kind="stable")[:k], start=1):
            segment = groups.rows_of(doc)
            i = int(segment[np.argmax(scores[segment])])
            hits.append(hit_at(index, int(labels[i]), float(scores[i]), rank))
        results.append(hits)
    return results


def _documents_of(index: LoadedIndex, labels: np.ndarray) -> DocumentRows:
    """The chunks of ``labels`` grouped by document (the index's own grouping for all)."""
    if len(labels) == len(index.labels):
        return index.documents
    codes = index.documents.codes[np.searchsorted(index.labels, labels)]
    used, inverse = np.unique(codes, return_inverse=True)
    return DocumentRows.grouped(index.documents.ids[used], inverse)


def chunk_similarities(index: LoadedIndex, vector: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Exact cosine of ``vector`` with the stored chunks ``labels`` (vectors are unit length)."""
    return index.vectors.of(np.asarray(labels, dtype=np.int64)) @ vector


@dataclass(frozen=True)
class Candidates:
    """One query's nearest chunks: labels and cosines, best first."""

    labels: np.ndarray
    scores: np.ndarray


def exact_chunks(
    index: LoadedIndex, vectors: np.ndarray, count: int, subset: np.ndarray
) -> list[Candidates]:
    """For each query vector, the ``count`` chunks of ``subset`` (sorted labels) nearest by
    exact cosine, best first; ties go to the lower label."""
    count = min(count, len(subset))
    found = []
    for vector in np.atleast_2d(vectors):
        row = index.vectors.scores(subset, vector)
        best = np.argpartition(-row, count - 1)[:count]
        best = best[np.lexsort((subset[best], -row[best]))]
        found.append(Candidates(subset[best].astype(np.int64), row[best]))
    return found


def chunk_candidates(
    index: LoadedIndex,
    vectors: np.ndarray,
    count: int,
    allowed: AllowedLabels | None = None,
    exact: bool = False,
) -> list[Candidates]:
    """For each query vector, its ``count`` nearest chunks, by the graph or exactly.

    Plain arrays, no hits: what fusion needs, cheaply.
    """
    vectors = np.atleast_2d(vectors)
    subset = index.labels if allowed is None else allowed.labels
    count = min(count, len(subset))
    if count == 0:
        return [Candidates(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in vectors]
    if exact:
        return exact_chunks(index, vectors, count, subset)
    index.graph.set_ef(max(index.manifest.hnsw.ef, count))
    if allowed is None:
        labels, distances = index.graph.knn_query(vectors, k=count)
    else:
        labels, distances = index.graph.knn_query(
            vectors, k=count, num_threads=1, filter=allowed.__contains__
        )
    return [
        Candidates(row.astype(np.int64), 1.0 - d) for row, d in zip(labels, distances, strict=True)
    ]


EXACT_FILTER_LIMIT = 50_000  # chunks; a filtered subset up to this size is searched exactly
