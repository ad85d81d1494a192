"""The searcher: an index opened for queries, answering in dense, lexical or hybrid mode.

Hybrid (the default when the index has a lexical side) takes each retriever's top
candidates, scores every candidate on both sides, and fuses the scores (see ``fusion``).
Documents are ranked by their fused score; each is shown as the chunk of the retriever
that ranked it higher. ``--rerank`` rescores the fused chunk candidates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tasksift.chunks import untruncated
from tasksift.errors import MismatchError
from tasksift.guard import check_request, names_task_adapter
from tasksift.index.manifest import Manifest
from tasksift.index.reader import LoadedIndex, load_index, read_manifest
from tasksift.onnx.embedder import open_index_embedder
from tasksift.options import (
    DEFAULT_CANDIDATES,
    DocumentFilter,
    FusionMethod,
    SearchMode,
    SearchRequest,
)
from tasksift.search.bm25 import Bm25Retriever
from tasksift.search.dense import DenseRetriever
from tasksift.search.fusion import (
    Fusion,
    Weight,
    chunk_scale,
    fuse,
    ranks_in,
    segment_best,
    weigh,
)
from tasksift.search.hits import (
    Explanation,
    Hit,
    best_per_document,
    hit_at,
    hits_of,
    rank_hits,
)
from tasksift.search.relevance import with_relevance
from tasksift.search.retriever import QueryScores, Retriever, RowSubset
from tasksift.vectors.embedder import Embedder
from tasksift.vectors.encoding import Role, encode_with_prompt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from tasksift.rerank.reranker import Reranker


def _open_reranker(name: str) -> tuple[Reranker, str | None]:
    from tasksift.rerank.loading import open_reranker

    return open_reranker(name)


@dataclass(frozen=True)
class Loaders:
    """Where ``Searcher.open`` gets its parts, each with its note for the user: read afresh
    (a command), or kept warm by a service (``serve.catalog``)."""

    manifest: Callable[[Path], Manifest] = read_manifest
    index: Callable[[Path, Manifest, bool], LoadedIndex] = load_index
    embedder: Callable[[Path, Manifest], tuple[Embedder, str | None]] = open_index_embedder
    reranker: Callable[[str], tuple[Reranker, str | None]] = _open_reranker
    counter: Callable[[Tokenizer], Tokenizer] = untruncated  # counts a query's tokens


def choose_mode(manifest: Manifest, asked: SearchMode | None, index_dir: Path) -> SearchMode:
    """The mode asked for, else hybrid when the index has a lexical side, else dense."""
    if manifest.has_lexical:
        return asked or SearchMode.HYBRID
    if asked in (SearchMode.LEXICAL, SearchMode.HYBRID):
        raise MismatchError(
            f"index {index_dir} has no lexical side ({_why_no_lexical(manifest)}), so it "
            f"cannot answer in {asked.value} mode; either search with --mode dense, or add the "
            f"lexical side without embedding anything again: tasksift index "
            f"{manifest.corpus_root} --index {index_dir}"
        )
    return SearchMode.DENSE


def _why_no_lexical(manifest: Manifest) -> str:
    if manifest.lexical is None:
        return "built before tasksift had one"
    return "its first indexing run was interrupted; the lexical side is built at the end"


def _with_adapter(manifest: Manifest, request: SearchRequest) -> Manifest:
    """The manifest with the adapter's place the search gives (the guard read it and found
    the index's adapter, fingerprint and all), so that a moved adapter loads from where it
    is now. A task adapter the model ships is named, not placed: the model loads it."""
    if request.adapter is None or manifest.adapter is None:
        return manifest
    if names_task_adapter(manifest, request.adapter):
        return manifest
    place = str(Path(request.adapter).expanduser().resolve())
    return replace(manifest, adapter=replace(manifest.adapter, path=place))


@dataclass
class Searcher:
    """An index opened for searching: manifest checked, graph loaded, models ready."""

    index: LoadedIndex
    embedder: Embedder | None  # None in lexical mode: no model is loaded
    mode: SearchMode = SearchMode.DENSE
    fusion: Fusion = field(default_factory=Fusion)
    reranker: Reranker | None = None
    candidates: int = DEFAULT_CANDIDATES
    notes: list[str] = field(default_factory=list)  # for the user, e.g. a skipped fast path
    counter: Callable[[Tokenizer], Tokenizer] = untruncated

    @classmethod
    def open(
        cls,
        index_dir: Path,
        request: SearchRequest,
        mode: SearchMode | None = None,
        fusion: Fusion | None = None,
        rerank_model: str | None = None,
        candidates: int = DEFAULT_CANDIDATES,
        explain: bool = False,
        loaders: Loaders | None = None,
    ) -> Searcher:
        """Refuse a mismatched request first, then load the index, reranker and model."""
        loaders = loaders or Loaders()
        manifest = loaders.manifest(index_dir)
        check_request(manifest, request, index_dir)
        notes = []
        if mode is None and not manifest.has_lexical:
            notes.append(
                f"index {index_dir} has no lexical side ({_why_no_lexical(manifest)}): dense "
                "search only; run `tasksift index` on its corpus to complete it"
            )
        chosen = choose_mode(manifest, mode, index_dir)
        wants_lexical = chosen is not SearchMode.DENSE or explain
        reranker = None
        if rerank_model is not None:  # first: a missing one fails before the index loads
            reranker, note = loaders.reranker(rerank_model)
            notes += [note] if note else []
        index = loaders.index(index_dir, manifest, wants_lexical)
        embedder = None
        if chosen is not SearchMode.LEXICAL:
            embedder, note = loaders.embedder(index_dir, _with_adapter(manifest, request))
            notes += [note] if note else []
        fusion = fusion or Fusion()
        if fusion.method is FusionMethod.ADAPTIVE and manifest.fusion is not None:
            fusion = replace(fusion, rule=manifest.fusion)  # the rule the index recorded
        return cls(index, embedder, chosen, fusion, reranker, candidates, notes, loaders.counter)

    @property
    def manifest(self) -> Manifest:
        return self.index.manifest

    @functools.cached_property
    def _counter(self) -> Tokenizer | None:
        return self.counter(self.embedder.tokenizer) if self.embedder is not None else None

    def overlong(self, query: str) -> int | None:
        """The query's token count when the dense side cannot read it whole, else None."""
        if self._counter is None:
            return None
        prompt = self.manifest.prompts.query
        tokens = len(self._counter.encode(prompt + query).ids)
        return tokens if tokens > self.manifest.model.max_seq_length else None

    def encode(self, queries: list[str]) -> np.ndarray:
        return encode_with_prompt(self.embedder, self.manifest.prompts, Role.QUERY, queries)

    def retrievers(self, exact: bool = False) -> list[Retriever]:
        """The retrievers of the search mode: one, or the two that hybrid fuses; the dense
        side exactly with ``exact``, else by the graph or exactly, whichever costs less."""
        dense = DenseRetriever(self.index, self.embedder, True if exact else None)
        if self.mode is SearchMode.DENSE:
            return [dense]
        lexical = Bm25Retriever(self.index)
        return [lexical] if self.mode is SearchMode.LEXICAL else [dense, lexical]

    def search(
        self,
        queries: list[str],
        k: int,
        chunks: bool = False,
        exact: bool = False,
        where: DocumentFilter | None = None,
        explain: bool = False,
        per_doc: int = 1,
    ) -> list[list[Hit]]:
        """Results for each query: top ``k`` documents (or chunks with ``chunks``), each
        document as up to ``per_doc`` of its best chunks.

        ``where`` restricts the results to some documents, inside each retriever (see
        ``dense`` for how the dense side searches a subset), so that a small subset is
        never crowded out by the rest.
        """
        subset = RowSubset.of(self.index, where) if where else None
        pool = max(self.candidates, k) if self.reranker is not None else k
        as_chunks = chunks or self.reranker is not None
        more = 1 if as_chunks else per_doc  # chunks each document may add
        sides = [r.query(queries, subset) for r in self.retrievers(exact)]
        if len(sides) == 1:
            dense = self.mode is SearchMode.DENSE
            found = [self._alone(q, dense, pool, as_chunks, more) for q in sides[0]]
        else:
            found = [self._fused(d, x, pool, as_chunks, more) for d, x in zip(*sides, strict=True)]
        if self.reranker is not None:
            texts = [[hit.text for hit in hits] for hits in found]
            scores = self.reranker.score_many(queries, texts)  # all pairs scored together
            reranked = [_rescored(h, s) for h, s in zip(found, scores, strict=True)]
            found = [
                rank_hits(h, k) if chunks else best_per_document(h, k, "rerank_score", per_doc)
                for h in reranked
            ]
        found = [with_relevance(self._relevance_mode, hits) for hits in found]
        if not explain:
            return [[replace(h, explanation=None) for h in hits] for hits in found]
        return [self._with_terms(q, hits) for q, hits in zip(queries, found, strict=True)]

    @property
    def _relevance_mode(self) -> str:
        """Which relevance map fits this searcher's scores (RRF's have no scale: its dense
        side's)."""
        if self.mode is SearchMode.HYBRID and self.fusion.method is FusionMethod.RRF:
            return SearchMode.DENSE.value
        return self.mode.value

    def _alone(
        self, query: QueryScores, dense: bool, count: int, chunks: bool, per_doc: int
    ) -> list[Hit]:
        """One retriever's results."""
        ranked = query.top_rows(count) if chunks else query.top_documents(count)
        hits = self._more_chunks(hits_of(self.index, ranked), per_doc, query.of_rows)
        explained = []
        for hit in hits:
            mine, none = (hit.score, hit.rank), (None, None)
            sides = (*mine, *none) if dense else (*none, *mine)
            explained.append(replace(hit, explanation=Explanation(*sides, fused_score=None)))
        return explained

    def _more_chunks(
        self, hits: list[Hit], per_doc: int, score: Callable[[np.ndarray], np.ndarray]
    ) -> list[Hit]:
        """Each document hit followed by up to ``per_doc - 1`` more of its chunks, best
        first by ``score`` (of sidecar rows); they share the document's rank."""
        if per_doc <= 1:
            return hits
        groups = self.index.documents
        out = []
        for hit in hits:
            out.append(hit)
            row = self.index.row_of(hit.label)
            rows = groups.rows_of(int(groups.codes[row]))
            rows = rows[rows != row]
            if len(rows) == 0:
                continue
            scores = score(rows)
            for i in np.argsort(-scores, kind="stable")[: per_doc - 1]:
                extra = hit_at(self.index, int(rows[i]), float(scores[i]), hit.rank)
                out.append(replace(extra, explanation=hit.explanation))
        return out

    # -- hybrid

    def _fused(
        self, dense: QueryScores, lexical: QueryScores, count: int, chunks: bool, per_doc: int
    ) -> list[Hit]:
        """Both retrievers' candidates, each scored on both sides, fused."""
        depth = max(self.fusion.depth, count)
        if chunks:
            return self._fuse_chunks(dense, lexical, depth, count)
        return self._fuse_documents(dense, lexical, depth, count, per_doc)

    def _fuse_chunks(
        self, dense: QueryScores, lexical: QueryScores, depth: int, count: int
    ) -> list[Hit]:
        dense_rows, lexical_rows = dense.top_rows(depth).rows, lexical.top_rows(depth).rows
        rows = np.unique(np.concatenate([dense_rows, lexical_rows]))
        dense_scores, lexical_scores = dense.of_rows(rows), lexical.of_rows(rows)
        dense_rank, lexical_rank = ranks_in(rows, dense_rows), ranks_in(rows, lexical_rows)
        weight = weigh(self.fusion, dense_scores, lexical_scores)
        fused = fuse(self.fusion, weight, dense_scores, lexical_scores, dense_rank, lexical_rank)
        order = np.lexsort((rows, -fused))[:count]
        explain = self._explainer(
            weight, dense_scores, dense_rank, lexical_scores, lexical_rank, fused
        )
        return [
            replace(hit_at(self.index, int(rows[i]), float(fused[i]), rank), explanation=explain(i))
            for rank, i in enumerate(order, start=1)
        ]

    def _fuse_documents(
        self, dense: QueryScores, lexical: QueryScores, depth: int, count: int, per_doc: int
    ) -> list[Hit]:
        groups = self.index.documents
        dense_docs = groups.codes[dense.top_documents(depth).rows]
        lexical_docs = groups.codes[lexical.top_documents(depth).rows]
        docs = np.unique(np.concatenate([dense_docs, lexical_docs]).astype(np.int64))
        if len(docs) == 0:  # nothing passed the filter
            return []
        rows, starts = groups.rows_of_many(docs)  # every chunk of every candidate document
        dense_scores, dense_first = segment_best(dense.of_rows(rows), starts)
        lexical_scores, lexical_first = segment_best(lexical.of_rows(rows), starts)
        dense_rank, lexical_rank = ranks_in(docs, dense_docs), ranks_in(docs, lexical_docs)
        weight = weigh(self.fusion, dense_scores, lexical_scores)
        fused = fuse(self.fusion, weight, dense_scores, lexical_scores, dense_rank, lexical_rank)
        order = np.lexsort((docs, -fused))[:count]
        explain = self._explainer(
            weight, dense_scores, dense_rank, lexical_scores, lexical_rank, fused
        )
        hits = []
        for rank, i in enumerate(order, start=1):
            by_dense = _ranks_higher(int(dense_rank[i]), int(lexical_rank[i]))
            row = rows[dense_first[i]] if by_dense else rows[lexical_first[i]]
            hit = hit_at(self.index, int(row), float(fused[i]), rank)
            hits.append(replace(hit, explanation=explain(i)))
        scale = chunk_scale(weight, dense_scores, lexical_scores)
        return self._more_chunks(
            hits, per_doc, lambda rows: scale(dense.of_rows(rows), lexical.of_rows(rows))
        )

    # -- explanations

    def _explainer(
        self,
        weight: Weight | None,
        dense: np.ndarray,
        dense_rank: np.ndarray,
        lexical: np.ndarray,
        lexical_rank: np.ndarray,
        fused: np.ndarray,
    ) -> Callable[[int], Explanation]:
        """The explanation of fused candidate ``i``, with the query's fusion weight."""
        reason = weight.reason(self.fusion.rule) if weight is not None else None
        alpha = weight.alpha if weight is not None else None

        def explain(i: int) -> Explanation:
            return Explanation(
                float(dense[i]),
                int(dense_rank[i]) or None,
                float(lexical[i]),
                int(lexical_rank[i]) or None,
                float(fused[i]),
                fusion_weight=alpha,
                weight_reason=reason,
            )

        return explain

    def _with_terms(self, query: str, hits: list[Hit]) -> list[Hit]:
        """Hits whose explanation lists the query words found in their chunk."""
        if self.index.lexical is None:
            return hits
        from tasksift.lexical.analyzer import matching_words

        analyzer = self.index.lexical.analyzer
        explained = []
        for hit in hits:
            query_words, text_words = matching_words(analyzer, query, hit.text)
            base = hit.explanation or Explanation(None, None, None, None, None)
            terms = replace(base, matched_terms=tuple(query_words), matched_words=tuple(text_words))
            explained.append(replace(hit, explanation=terms))
        return explained


def _ranks_higher(dense_rank: int, lexical_rank: int) -> bool:
    """Whether the dense side ranked a candidate at least as high as the lexical side."""
    if dense_rank == 0:
        return False
    return lexical_rank == 0 or dense_rank <= lexical_rank


def _rescored(hits: list[Hit], scores: np.ndarray) -> list[Hit]:
    """``hits`` with their reranker ``scores``, best first (ties keep the first stage's order)."""
    rescored = []
    for hit, score in zip(hits, scores, strict=True):
        why = hit.explanation and replace(hit.explanation, first_stage_rank=hit.rank)
        rescored.append(replace(hit, rerank_score=float(score), explanation=why))
    return sorted(rescored, key=lambda h: h.rerank_score, reverse=True)
