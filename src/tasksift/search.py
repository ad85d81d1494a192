"""Search: check a request against the index, encode the query, and rank documents.

``check_request`` runs on the manifest alone, before any model is loaded, and refuses a
search whose task, model or prompts are not the index's.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tasksift.chunks import untruncated
from tasksift.errors import MismatchError
from tasksift.index import LoadedIndex, Manifest, load_index, read_manifest
from tasksift.options import DEFAULT_CANDIDATES, DocumentFilter, SearchRequest
from tasksift.prompts import find_profile
from tasksift.vectors import Embedder, canonical_model_name, load_embedder

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from tasksift.rerank import Reranker


@dataclass(frozen=True)
class Hit:
    rank: int
    doc_id: str
    path: str
    score: float  # cosine similarity of query and chunk
    label: int
    ordinal: int
    start: int
    end: int
    text: str
    rerank_score: float | None = None


def check_request(manifest: Manifest, request: SearchRequest, index_dir: Path) -> None:
    """Refuse a search whose task, model or prompts differ from the index's."""
    corpus = manifest.corpus_root
    if request.task is not None and request.task != manifest.task:
        raise MismatchError(
            f"index {index_dir} was built for task '{manifest.task.value}' but this search asks "
            f"for '{request.task.value}'; either search with --task {manifest.task.value}, or "
            f"build an index for that task: tasksift index {corpus} --task {request.task.value} "
            "--index NEW_INDEX"
        )
    if request.model is not None and canonical_model_name(request.model) != manifest.model.name:
        raise MismatchError(
            f"index {index_dir} was built with model '{manifest.model.name}' but this search "
            f"asks for '{request.model}'; either search with --model {manifest.model.name} (or "
            f"no --model), or build an index with that model: tasksift index {corpus} "
            f"--model {request.model} --index NEW_INDEX"
        )
    recorded = manifest.prompts
    asked_query = request.query_prompt
    if request.instruction is not None:
        profile = find_profile(manifest.model.name, recorded.profile)
        template = profile.instruction_template if profile else None
        asked_query = template.format(instruction=request.instruction) if template else None
        if template is None:
            raise MismatchError(
                f"index {index_dir} was built without an instruction template; --instruction "
                "does not apply to it"
            )
    for side, asked, held in (
        ("query", asked_query, recorded.query),
        ("document", request.document_prompt, recorded.document),
    ):
        if asked is not None and asked != held:
            raise MismatchError(
                f"index {index_dir} was built with {side} prompt {held!r} but this search gives "
                f"{asked!r}; either search without the override, or build an index with that "
                f"prompt: tasksift index {corpus} --{side}-prompt {asked!r} --index NEW_INDEX"
            )


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
    from tasksift.fastpath import FastPathRecord, FastPathUnavailable, load_fast_embedder

    try:
        record = FastPathRecord.from_dict(manifest.fast_path)
        return load_fast_embedder(index_dir, record), None
    except FastPathUnavailable as exc:
        note = f"fast query path unavailable ({exc}); using sentence-transformers"
    return load_query_embedder(manifest), note


def encode_queries(embedder: Embedder, manifest: Manifest, queries: list[str]) -> np.ndarray:
    prompts = manifest.prompts
    return embedder.encode(queries, prompts.query, adapter=prompts.query_adapter)


_HIT_COLUMNS = ("doc_id", "path", "ordinal", "start", "end", "text")


def _hit(index: LoadedIndex, label: int, score: float, rank: int) -> Hit:
    position = index.row_of(label)
    row = {name: index.rows.column(name)[position].as_py() for name in _HIT_COLUMNS}
    return Hit(rank=rank, score=score, label=label, **row)


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
            _hit(index, int(label), 1.0 - float(distance), rank)
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
        doc_ids = index.rows.column("doc_id").to_pylist()
        keep = {d for d in set(doc_ids) if where.matches(d)}
        labels = index.labels[[doc_id in keep for doc_id in doc_ids]]
        return cls(labels, frozenset(int(x) for x in labels))


def best_per_document(hits: list[Hit], k: int, key: str = "score") -> list[Hit]:
    """The best chunk of each of the top ``k`` documents, ranked by ``key``."""
    best: dict[str, Hit] = {}
    for hit in sorted(hits, key=lambda h: getattr(h, key), reverse=True):
        best.setdefault(hit.doc_id, hit)
    ranked = sorted(best.values(), key=lambda h: getattr(h, key), reverse=True)[:k]
    return [replace(hit, rank=rank) for rank, hit in enumerate(ranked, start=1)]


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


def rank_hits(hits: list[Hit], k: int) -> list[Hit]:
    """Top ``k`` chunk hits, renumbered."""
    return [replace(hit, rank=rank) for rank, hit in enumerate(hits[:k], start=1)]


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
    stored = np.asarray(index.graph.get_items(labels), dtype=np.float32).reshape(len(labels), -1)
    rows = np.searchsorted(index.labels, labels)
    doc_ids = np.asarray(index.rows.column("doc_id").to_pylist(), dtype=object)[rows]
    _, codes = np.unique(doc_ids, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    ends = np.r_[starts[1:], len(order)]
    results = []
    for vector in np.atleast_2d(vectors):
        scores = stored @ vector
        if not per_document:
            best = np.argsort(-scores, kind="stable")[:k]
            results.append(
                [_hit(index, int(labels[i]), float(scores[i]), r) for r, i in enumerate(best, 1)]
            )
            continue
        per_doc = np.maximum.reduceat(scores[order], starts)
        hits = []
        for rank, doc in enumerate(np.argsort(-per_doc, kind="stable")[:k], start=1):
            segment = order[starts[doc] : ends[doc]]
            i = int(segment[np.argmax(scores[segment])])
            hits.append(_hit(index, int(labels[i]), float(scores[i]), rank))
        results.append(hits)
    return results


EXACT_FILTER_LIMIT = 50_000  # chunks; a filtered subset up to this size is searched exactly


@dataclass
class Searcher:
    """An index opened for searching: manifest checked, graph loaded, models ready."""

    index: LoadedIndex
    embedder: Embedder
    reranker: Reranker | None = None
    candidates: int = DEFAULT_CANDIDATES
    notes: list[str] = field(default_factory=list)  # for the user, e.g. a skipped fast path

    @classmethod
    def open(
        cls,
        index_dir: Path,
        request: SearchRequest,
        rerank_model: str | None = None,
        candidates: int = DEFAULT_CANDIDATES,
    ) -> Searcher:
        """Refuse a mismatched request first, then load the index, reranker and model."""
        manifest = read_manifest(index_dir)
        check_request(manifest, request, index_dir)
        index = load_index(index_dir, manifest)
        reranker = None
        if rerank_model is not None:
            from tasksift.rerank import load_reranker

            reranker = load_reranker(rerank_model)
        embedder, note = open_query_embedder(index_dir, manifest)
        return cls(index, embedder, reranker, candidates, [note] if note else [])

    @property
    def manifest(self) -> Manifest:
        return self.index.manifest

    @functools.cached_property
    def _counter(self) -> Tokenizer:
        return untruncated(self.embedder.tokenizer)

    def overlong(self, query: str) -> int | None:
        """The query's token count when it would not fit the model whole, else None."""
        prompt = self.manifest.prompts.query
        tokens = len(self._counter.encode(prompt + query).ids)
        return tokens if tokens > self.manifest.model.max_seq_length else None

    def encode(self, queries: list[str]) -> np.ndarray:
        return encode_queries(self.embedder, self.manifest, queries)

    def search(
        self,
        queries: list[str],
        k: int,
        chunks: bool = False,
        exact: bool = False,
        where: DocumentFilter | None = None,
    ) -> list[list[Hit]]:
        """Results for each query: top ``k`` documents (or chunks with ``chunks``).

        ``where`` restricts the results to some documents: a subset of up to
        ``EXACT_FILTER_LIMIT`` chunks is searched exactly, a larger one through the graph
        with a filter, so that a small subset is never crowded out by the rest.
        """
        vectors = self.encode(queries)
        allowed = AllowedLabels.of(self.index, where) if where else None
        if allowed is not None and len(allowed.labels) <= EXACT_FILTER_LIMIT:
            exact = True
        try:
            return self._search(queries, vectors, k, chunks, exact, allowed)
        except RuntimeError:  # hnswlib found fewer filtered neighbours than asked for
            if allowed is None or exact:
                raise
            return self._search(queries, vectors, k, chunks, True, allowed)

    def _search(
        self,
        queries: list[str],
        vectors: np.ndarray,
        k: int,
        chunks: bool,
        exact: bool,
        allowed: AllowedLabels | None,
    ) -> list[list[Hit]]:
        pool = max(self.candidates, k) if self.reranker is not None else k
        if exact:
            subset = None if allowed is None else allowed.labels
            per_document = not chunks and self.reranker is None
            found = exact_search(self.index, vectors, pool, subset, per_document)
        elif chunks or self.reranker is not None:
            found = nearest_chunks(self.index, vectors, pool, allowed)
        else:
            return top_documents(self.index, vectors, k, allowed)
        if self.reranker is None:
            return found if not chunks else [rank_hits(hits, k) for hits in found]
        reranked = [self.reranker.rerank(q, hits) for q, hits in zip(queries, found, strict=True)]
        if chunks:
            return [rank_hits(hits, k) for hits in reranked]
        return [best_per_document(hits, k, "rerank_score") for hits in reranked]
