"""The lexical side: BM25 over the analyzed terms of every chunk, beside the vectors.

It lives in a generation's ``lexical/`` folder and is written, committed and cleaned up
with the graph and the sidecar (see ``index``). Scoring is bm25s's: a sparse matrix of
precomputed BM25 weights, one row per chunk in sidecar (label) order, loaded memory-mapped.

Modules: ``analyzer`` (text to terms, recorded in the manifest), ``record`` (what the
manifest records), ``terms`` (the vocabulary and every chunk's term ids), ``matrix`` (the
BM25 matrix built with numpy), ``scorer`` (the matrix opened for searching).
"""
