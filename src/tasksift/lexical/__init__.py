"""The lexical side: analyzer, term store, BM25 matrix and scorer."""
