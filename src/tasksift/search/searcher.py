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
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from tasksift.chunks import untruncated
from tasksift.errors import MismatchError
from tasksift.guard import check_request
from tasksift.index.manifest import Manifest
from tasksift.index.reader import LoadedIndex, load_index, read_manifest
from tasksift.options import DEFAULT_CANDIDATES, DocumentFilter, SearchMode, SearchRequest
from tasksift.search import bm25 as lexical_side
from tasksift.search.dense import (
    EXACT_FILTER_LIMIT,
    AllowedLabels,
    Candidates,
    chunk_candidates,
    chunk_similarities,
    encode_queries,
    exact_search,
    nearest_chunks,
    open_query_embedder,
    top_documents,
)
from tasksift.search.fusion import Fusion, chunk_scale, fuse, ranks_in, segment_best
from tasksift.search.hits import Explanation, Hit, best_per_document, hit_at, rank_hits
from tasksift.vectors.embedder import Embedder

T = TypeVar("T")

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from tasksift.rerank.reranker import Reranker


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
    ) -> Searcher:
        """Refuse a mismatched request first, then load the index, reranker and model."""
        manifest = read_manifest(index_dir)
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
            from tasksift.rerank.loading import open_reranker

            reranker, note = open_reranker(rerank_model)
            notes += [note] if note else []
        index = load_index(index_dir, manifest, lexical=wants_lexical)
        embedder = None
        if chosen is not SearchMode.LEXICAL:
            embedder, note = open_query_embedder(index_dir, manifest)
            notes += [note] if note else []
        return cls(index, embedder, chosen, fusion or Fusion(), reranker, candidates, notes)

    @property
    def manifest(self) -> Manifest:
        return self.index.manifest

    @functools.cached_property
    def _counter(self) -> Tokenizer | None:
        return untruncated(self.embedder.tokenizer) if self.embedder is not None else None

    def overlong(self, query: str) -> int | None:
        """The query's token count when the dense side cannot read it whole, else None."""
        if self._counter is None:
            return None
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
        explain: bool = False,
        per_doc: int = 1,
    ) -> list[list[Hit]]:
        """Results for each query: top ``k`` documents (or chunks with ``chunks``), each
        document as up to ``per_doc`` of its best chunks.

        ``where`` restricts the results to some documents, inside each retriever: a subset
        of up to ``EXACT_FILTER_LIMIT`` chunks is searched exactly by the dense side, a
        larger one through the graph with a filter, so that a small subset is never crowded
        out by the rest. A few queries are answered by exact search over the memory-mapped
        vectors when that costs less than loading the graph.
        """
        allowed = AllowedLabels.of(self.index, where) if where else None
        if allowed is not None and len(allowed.labels) <= EXACT_FILTER_LIMIT:
            exact = True
        if self.index.exact_is_cheaper(len(queries)):  # than loading the graph
            exact = True
        pool = max(self.candidates, k) if self.reranker is not None else k
        as_chunks = chunks or self.reranker is not None
        more = 1 if as_chunks else per_doc  # chunks each document may add
        if self.mode is SearchMode.DENSE:
            found = self._dense(queries, pool, as_chunks, exact, allowed, more)
        else:
            mask = lexical_side.row_mask(self.index, allowed)
            if self.mode is SearchMode.LEXICAL:
                found = [
                    self._lexical(
                        lexical_side.row_scores(self.index, q, mask), pool, as_chunks, more
                    )
                    for q in queries
                ]
            else:
                found = self._hybrid(queries, mask, pool, as_chunks, exact, allowed, more)
        if self.reranker is not None:
            texts = [[hit.text for hit in hits] for hits in found]
            scores = self.reranker.score_many(queries, texts)  # all pairs scored together
            reranked = [_rescored(h, s) for h, s in zip(found, scores, strict=True)]
            found = [
                rank_hits(h, k) if chunks else best_per_document(h, k, "rerank_score", per_doc)
                for h in reranked
            ]
        if not explain:
            return [[replace(h, explanation=None) for h in hits] for hits in found]
        return [self._with_terms(q, hits) for q, hits in zip(queries, found, strict=True)]

    # -- dense

    def _dense(
        self,
        queries: list[str],
        count: int,
        chunks: bool,
        exact: bool,
        allowed: AllowedLabels | None,
        per_doc: int,
    ) -> list[list[Hit]]:
        vectors = self.encode(queries)
        found = _graph_or_exact(
            lambda exactly: self._dense_candidates(vectors, count, chunks, exactly, allowed),
            exact,
        )
        found = [
            self._more_chunks(hits, per_doc, functools.partial(self._similarities, vector))
            for hits, vector in zip(found, vectors, strict=True)
        ]
        return [[self._explained_alone(h, dense=True) for h in hits] for hits in found]

    def _similarities(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return chunk_similarities(self.index, vector, self.index.labels[rows])

    def _more_chunks(
        self, hits: list[Hit], per_doc: int, score: Callable[[np.ndarray], np.ndarray]
    ) -> list[Hit]:
        """Each document hit followed by up to ``per_doc - 1`` more of its chunks, best
        first by ``score`` (of sidecar rows); they share the document's rank."""
        if per_doc <= 1:
            return hits
        groups, labels = self.index.documents, self.index.labels
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
                extra = hit_at(self.index, int(labels[rows[i]]), float(scores[i]), hit.rank)
                out.append(replace(extra, explanation=hit.explanation))
        return out

    def _dense_candidates(
        self,
        vectors: np.ndarray,
        count: int,
        chunks: bool,
        exact: bool,
        allowed: AllowedLabels | None,
    ) -> list[list[Hit]]:
        if exact:
            subset = None if allowed is None else allowed.labels
            return exact_search(self.index, vectors, count, subset, per_document=not chunks)
        if chunks:
            return nearest_chunks(self.index, vectors, count, allowed)
        return top_documents(self.index, vectors, count, allowed)

    @staticmethod
    def _explained_alone(hit: Hit, dense: bool) -> Hit:
        side = (hit.score, hit.rank) if dense else (None, None)
        other = (None, None) if dense else (hit.score, hit.rank)
        return replace(hit, explanation=Explanation(*side, *other, fused_score=None))

    # -- lexical

    def _lexical(self, scores: np.ndarray, count: int, chunks: bool, per_doc: int) -> list[Hit]:
        labels = self.index.labels
        if chunks:
            rows = lexical_side.top_positions(scores, count)
            hits = [hit_at(self.index, int(labels[r]), float(scores[r]), 0) for r in rows]
        else:
            documents = lexical_side.top_documents(self.index, scores, count)
            best, best_row = lexical_side.best_rows(self.index, scores, documents)
            hits = [
                hit_at(self.index, int(labels[r]), float(b), 0)
                for b, r in zip(best, best_row, strict=True)
            ]
        hits = self._more_chunks(rank_hits(hits, count), per_doc, scores.__getitem__)
        return [self._explained_alone(h, dense=False) for h in hits]

    # -- hybrid

    def _hybrid(
        self,
        queries: list[str],
        mask: np.ndarray | None,
        count: int,
        chunks: bool,
        exact: bool,
        allowed: AllowedLabels | None,
        per_doc: int,
    ) -> list[list[Hit]]:
        vectors = self.encode(queries)
        depth = max(self.fusion.depth, count)
        nearest = depth if chunks else 4 * depth  # a document may own several nearest chunks
        dense = _graph_or_exact(
            lambda exactly: chunk_candidates(self.index, vectors, nearest, allowed, exactly),
            exact,
        )
        results = []
        for query, vector, found in zip(queries, vectors, dense, strict=True):
            lexical = lexical_side.row_scores(self.index, query, mask)
            if chunks:
                results.append(self._fuse_chunks(vector, lexical, found, depth, count))
            else:
                results.append(self._fuse_documents(vector, lexical, found, depth, count, per_doc))
        return results

    def _fuse_chunks(
        self, vector: np.ndarray, lexical: np.ndarray, dense: Candidates, depth: int, count: int
    ) -> list[Hit]:
        labels = self.index.labels
        dense_rows = np.searchsorted(labels, dense.labels[:depth])
        lexical_rows = lexical_side.top_positions(lexical, depth)
        rows = np.unique(np.concatenate([dense_rows, lexical_rows]))
        dense_scores = chunk_similarities(self.index, vector, labels[rows])
        lexical_scores = lexical[rows]
        dense_rank, lexical_rank = ranks_in(rows, dense_rows), ranks_in(rows, lexical_rows)
        fused = fuse(self.fusion, dense_scores, lexical_scores, dense_rank, lexical_rank)
        order = np.lexsort((rows, -fused))[:count]
        explain = _explainer(dense_scores, dense_rank, lexical_scores, lexical_rank, fused)
        return [
            replace(
                hit_at(self.index, int(labels[rows[i]]), float(fused[i]), rank),
                explanation=explain(i),
            )
            for rank, i in enumerate(order, start=1)
        ]

    def _fuse_documents(
        self,
        vector: np.ndarray,
        lexical: np.ndarray,
        dense: Candidates,
        depth: int,
        count: int,
        per_doc: int,
    ) -> list[Hit]:
        groups, labels = self.index.documents, self.index.labels
        codes = groups.codes[np.searchsorted(labels, dense.labels)]
        found, first = np.unique(codes, return_index=True)
        dense_docs = found[np.argsort(first, kind="stable")][:depth]  # in order of their best chunk
        lexical_docs = lexical_side.top_documents(self.index, lexical, depth)
        docs = np.unique(np.concatenate([dense_docs, lexical_docs]).astype(np.int64))
        if len(docs) == 0:  # nothing passed the filter
            return []
        lexical_scores, lexical_row = lexical_side.best_rows(self.index, lexical, docs)
        # every chunk of every candidate document, scored by the dense side
        rows, starts = groups.rows_of_many(docs)
        similarities = chunk_similarities(self.index, vector, labels[rows])
        dense_scores, first = segment_best(similarities, starts)
        dense_row = rows[first]
        dense_rank, lexical_rank = ranks_in(docs, dense_docs), ranks_in(docs, lexical_docs)
        fused = fuse(self.fusion, dense_scores, lexical_scores, dense_rank, lexical_rank)
        order = np.lexsort((docs, -fused))[:count]
        explain = _explainer(dense_scores, dense_rank, lexical_scores, lexical_rank, fused)
        hits = []
        for rank, i in enumerate(order, start=1):
            by_dense = _ranks_higher(int(dense_rank[i]), int(lexical_rank[i]))
            row = dense_row[i] if by_dense else int(lexical_row[i])
            hit = hit_at(self.index, int(labels[row]), float(fused[i]), rank)
            hits.append(replace(hit, explanation=explain(i)))
        scale = chunk_scale(self.fusion, dense_scores, lexical_scores)
        return self._more_chunks(
            hits, per_doc, lambda rows: scale(self._similarities(vector, rows), lexical[rows])
        )

    # -- explanations

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


def _graph_or_exact(search: Callable[[bool], list[T]], exact: bool) -> list[T]:
    """``search(exact)``; searched again exactly when hnswlib cannot return as many
    neighbours as asked for (it raises RuntimeError when a filter, or deleted elements of
    an updated graph, leave too few reachable)."""
    try:
        return search(exact)
    except RuntimeError:
        if exact:
            raise
        return search(True)


def _explainer(
    dense: np.ndarray,
    dense_rank: np.ndarray,
    lexical: np.ndarray,
    lexical_rank: np.ndarray,
    fused: np.ndarray,
) -> Callable[[int], Explanation]:
    """The explanation of fused candidate ``i``."""

    def explain(i: int) -> Explanation:
        return Explanation(
            float(dense[i]),
            int(dense_rank[i]) or None,
            float(lexical[i]),
            int(lexical_rank[i]) or None,
            float(fused[i]),
        )

    return explain


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
