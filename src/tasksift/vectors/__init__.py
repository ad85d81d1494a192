"""Vectors: locate and fingerprint embedding models, and encode texts with a task's prompts."""
