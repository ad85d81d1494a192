"""Search: check a request against the index, encode the query, and rank documents.

``check_request`` runs on the manifest alone, before any model is loaded, and refuses a
search whose task, model or prompts are not the index's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tasksift.errors import MismatchError
from tasksift.index import LoadedIndex, Manifest
from tasksift.prompts import Task, find_profile
from tasksift.vectors import Embedder, canonical_model_name, load_embedder


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked for; ``None`` means "whatever the index holds"."""

    task: Task | None = None
    model: str | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None
    instruction: str | None = None


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
    embedder = load_embedder(
        manifest.model.name, trust_remote_code=manifest.model.trust_remote_code
    )
    if embedder.fingerprint != manifest.model.fingerprint:
        raise MismatchError(
            f"the weights of model '{manifest.model.name}' changed since the index was built "
            f"({embedder.fingerprint[:19]}... now, {manifest.model.fingerprint[:19]}... then); "
            "rebuild the index: tasksift index --rebuild"
        )
    return embedder


def encode_queries(embedder: Embedder, manifest: Manifest, queries: list[str]) -> np.ndarray:
    prompts = manifest.prompts
    return embedder.encode(queries, prompts.query, adapter=prompts.query_adapter)


def nearest_chunks(index: LoadedIndex, vector: np.ndarray, count: int) -> list[Hit]:
    """The ``count`` chunks nearest to ``vector``, best first."""
    total = index.manifest.chunks
    count = min(count, total)
    if count == 0:
        return []
    index.graph.set_ef(max(index.manifest.hnsw.ef, count))
    labels, distances = index.graph.knn_query(vector.reshape(1, -1), k=count)
    return [
        _hit(index, int(label), 1.0 - float(distance), rank)
        for rank, (label, distance) in enumerate(zip(labels[0], distances[0], strict=True), start=1)
    ]


def _hit(index: LoadedIndex, label: int, score: float, rank: int) -> Hit:
    row = {name: index.rows.column(name)[label].as_py() for name in _HIT_COLUMNS}
    return Hit(rank=rank, score=score, label=label, **row)


_HIT_COLUMNS = ("doc_id", "path", "ordinal", "start", "end", "text")


def best_per_document(hits: list[Hit], k: int, key: str = "score") -> list[Hit]:
    """The best chunk of each of the top ``k`` documents, ranked by ``key``."""
    best: dict[str, Hit] = {}
    for hit in sorted(hits, key=lambda h: getattr(h, key), reverse=True):
        best.setdefault(hit.doc_id, hit)
    ranked = sorted(best.values(), key=lambda h: getattr(h, key), reverse=True)[:k]
    return [replace(hit, rank=rank) for rank, hit in enumerate(ranked, start=1)]


def top_documents(index: LoadedIndex, vector: np.ndarray, k: int) -> list[Hit]:
    """The top ``k`` documents, each represented by its best chunk.

    Fetches more chunks than ``k`` (a document may own several of the nearest), widening
    the search until ``k`` distinct documents are found or the index is exhausted.
    """
    total = index.manifest.chunks
    count = min(total, max(4 * k, 50))
    while True:
        hits = nearest_chunks(index, vector, count)
        documents = best_per_document(hits, k)
        if len(documents) >= k or count >= total:
            return documents
        count = min(total, count * 4)


def rank_hits(hits: list[Hit], k: int) -> list[Hit]:
    """Top ``k`` chunk hits, renumbered."""
    return [replace(hit, rank=rank) for rank, hit in enumerate(hits[:k], start=1)]
