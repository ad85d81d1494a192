"""Search: check a request against the index, retrieve, fuse, and rank documents.

Modules: ``guard`` (refuse a mismatched request before any model loads), ``dense``
(query encoder and hnswlib graph), ``lexical`` (BM25 over the lexical index), ``fusion``
(convex combination or reciprocal rank fusion), ``hits`` (results and their explanations),
``searcher`` (the ``Searcher`` that ties them together).
"""

from tasksift.guard import check_request
from tasksift.search.dense import (
    AllowedLabels,
    encode_queries,
    exact_search,
    load_query_embedder,
    nearest_chunks,
    open_query_embedder,
    top_documents,
)
from tasksift.search.fusion import Fusion
from tasksift.search.hits import Explanation, Hit, best_per_document, rank_hits
from tasksift.search.searcher import Searcher, choose_mode

__all__ = [
    "AllowedLabels",
    "Explanation",
    "Fusion",
    "Hit",
    "Searcher",
    "best_per_document",
    "check_request",
    "choose_mode",
    "encode_queries",
    "exact_search",
    "load_query_embedder",
    "nearest_chunks",
    "open_query_embedder",
    "rank_hits",
    "top_documents",
]
