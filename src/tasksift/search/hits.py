"""Hits: what a search returns, and how hits are ranked and grouped by document."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasksift.index.reader import LoadedIndex
    from tasksift.search.retriever import Ranked


@dataclass(frozen=True)
class Explanation:
    """Why a hit ranks where it does: each retriever's view, and the terms that matched.

    Ranks are 1-based positions in that retriever's own candidate list, None when the hit
    was not among its candidates (its score is then computed for the fusion all the same).
    """

    dense_score: float | None
    dense_rank: int | None
    lexical_score: float | None
    lexical_rank: int | None
    fused_score: float | None
    matched_terms: tuple[str, ...] = ()  # query words whose terms the chunk holds
    matched_words: tuple[str, ...] = ()  # words of the chunk that matched, for highlights
    first_stage_rank: int | None = None  # with --rerank: the chunk's place before reranking
    fusion_weight: float | None = None  # hybrid (not RRF): the dense weight the query got
    weight_reason: str | None = None  # and why


@dataclass(frozen=True)
class Hit:
    rank: int
    doc_id: str
    path: str
    score: float  # dense: cosine; lexical: BM25; hybrid: fused score
    label: int
    ordinal: int
    start: int
    end: int
    text: str
    section: str | None = None
    page: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    rerank_score: float | None = None
    relevance: float | None = None  # estimated probability of relevance (see relevance)
    explanation: Explanation | None = None


_HIT_COLUMNS = (
    "doc_id", "path", "ordinal", "start", "end", "text", "section", "page", "line_start",
    "line_end",
)  # fmt: skip


def hit_at(index: LoadedIndex, row: int, score: float, rank: int) -> Hit:
    """The hit of the chunk in sidecar ``row``."""
    (values,) = index.sidecar.rows([row], _HIT_COLUMNS)
    return Hit(rank=rank, score=score, label=int(index.labels[row]), **values)


def hits_of(index: LoadedIndex, ranked: Ranked) -> list[Hit]:
    """The hits of ranked rows, ranked 1, 2, ... in their order."""
    pairs = zip(ranked.rows, ranked.scores, strict=True)
    return [hit_at(index, int(r), float(s), rank) for rank, (r, s) in enumerate(pairs, 1)]


def best_per_document(hits: list[Hit], k: int, key: str = "score", per_doc: int = 1) -> list[Hit]:
    """The top ``k`` documents ranked by their best chunk's ``key``, each as up to
    ``per_doc`` of its best chunks; a document's chunks share its rank."""
    chosen: dict[str, list[Hit]] = {}
    for hit in sorted(hits, key=lambda h: getattr(h, key), reverse=True):
        mine = chosen.setdefault(hit.doc_id, [])
        if len(mine) < per_doc:
            mine.append(hit)
    ranked = sorted(chosen.values(), key=lambda h: getattr(h[0], key), reverse=True)[:k]
    return [replace(hit, rank=rank) for rank, mine in enumerate(ranked, start=1) for hit in mine]


def rank_hits(hits: list[Hit], k: int) -> list[Hit]:
    """Top ``k`` chunk hits, renumbered."""
    return [replace(hit, rank=rank) for rank, hit in enumerate(hits[:k], start=1)]
