"""Plain option types shared by the command line and the library.

Output formats, search requests and document filters: pure data with no heavy imports, so
that ``tasksift --help`` and ``tasksift info`` start fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase

from tasksift.prompts import Task

DEFAULT_RERANK_MODEL = "cross-encoder/ms-marco-MiniLM-L6-v2"
DEFAULT_CANDIDATES = 50  # chunks a reranker rescores per query
CHECKPOINT_DOCUMENTS = 256  # documents read, chunked and embedded at a time
CHECKPOINT_SECONDS = 30.0  # of work between the checkpoints of a first indexing run
DEFAULT_ALPHA = 0.7  # weight of the dense side in convex fusion (see bench/fusion.py)
DEFAULT_FUSION_DEPTH = 100  # candidates each retriever gives hybrid fusion


class SearchMode(str, Enum):
    """Which retrievers answer: both, fused (hybrid), or one of them."""

    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"


class EvalMode(str, Enum):
    """``tasksift eval --mode``: one search mode, or all three side by side."""

    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"
    ALL = "all"


class FusionMethod(str, Enum):
    CONVEX = "convex"  # alpha * dense + (1 - alpha) * lexical, min-max normalized
    RRF = "rrf"  # reciprocal rank fusion


class OutputFormat(str, Enum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    TSV = "tsv"
    TREC = "trec"


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked for; ``None`` means "whatever the index holds"."""

    task: Task | None = None
    model: str | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None
    instruction: str | None = None
    adapter: str | None = None  # a LoRA adapter folder; must be the index's


@dataclass(frozen=True)
class DocumentFilter:
    """Which documents a search may return: ``--path`` globs and ``--type`` extensions."""

    paths: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.paths or self.types)

    def matches(self, doc_id: str) -> bool:
        if self.paths and not any(fnmatchcase(doc_id, glob) for glob in self.paths):
            return False
        suffixes = tuple("." + t.lower().lstrip(".") for t in self.types)
        return not suffixes or doc_id.lower().endswith(suffixes)


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are cut into chunks: tokens per chunk, and tokens neighbours share."""

    chunk_tokens: int
    overlap: int

    def __post_init__(self) -> None:
        if self.chunk_tokens < 8:
            raise ValueError(f"chunk size must be at least 8 tokens, got {self.chunk_tokens}")
        if not 0 <= self.overlap < self.chunk_tokens // 2 + 1:
            raise ValueError(
                f"overlap must be between 0 and half the chunk size ({self.chunk_tokens // 2}), "
                f"got {self.overlap}"
            )
