"""Search: check a request against the index, retrieve, fuse, and rank documents.

Modules: ``retriever`` (the interface every retriever implements), ``dense`` (query
encoder and hnswlib graph), ``bm25`` (BM25 over the lexical side), ``fusion`` (convex
combination or reciprocal rank fusion), ``hits`` (results and their explanations),
``searcher`` (the ``Searcher`` that runs a mode over a batch of queries). The guard that
refuses a mismatched request before any model loads is ``tasksift.guard``.
"""
