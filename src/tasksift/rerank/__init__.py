"""Rerank: rescore first-stage candidates with a cross-encoder."""
