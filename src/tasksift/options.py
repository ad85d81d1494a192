"""Plain option types shared by the command line and the library.

Output formats, search requests and document filters: pure data with no heavy imports, so
that ``tasksift --help`` and ``tasksift info`` start fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase

from tasksift.prompts import Task

DEFAULT_RERANK_MODEL = "cross-encoder/ms-marco-MiniLM-L6-v2"
DEFAULT_CANDIDATES = 50  # chunks a reranker rescores per query
CHECKPOINT_DOCUMENTS = 256  # documents read, chunked and embedded at a time, at most
CHECKPOINT_MODEL_BATCHES = 16  # model batches of chunks embedded at a time, at most (whole
# documents, at least one): 512 chunks at the default batch size
CHECKPOINT_SECONDS = 30.0  # of work between the checkpoints of a first indexing run
CHECKPOINT_SECONDS_VARIABLE = "TASKSIFT_CHECKPOINT_SECONDS"  # overrides it (kill tests)
MAX_SECONDS_PER_FILE = 60.0  # a reader working longer on one file is stopped
MAX_FILE_BYTES = 200_000_000  # larger files are skipped unread
MAX_READER_MEMORY = 4 * 2**30  # address space of the process that reads files
DEFAULT_ALPHA = 0.7  # weight of the dense side in convex fusion with --fusion convex
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
    ADAPTIVE = "adaptive"  # convex, with a weight set per query (see AdaptiveRule)
    CONVEX = "convex"  # alpha * dense + (1 - alpha) * lexical, min-max normalized
    RRF = "rrf"  # reciprocal rank fusion


@dataclass(frozen=True)
class AdaptiveRule:
    """The per-query dense weight of adaptive fusion, recorded in an index's manifest:
    ``alpha = clip(base + slope * (dense peak - lexical peak), low, high)``, where a side's
    peak is how far its best candidate stands above the others (its score's z-score among
    the query's candidates). The side whose top stands out more gets more weight.
    Parameters chosen on five collections by bench/fusion_offline.py."""

    base: float = 0.75
    slope: float = 0.1
    low: float = 0.1
    high: float = 0.9
    feature: str = "peak z-score of the top candidate, over both sides' candidates"

    def to_dict(self) -> dict[str, object]:
        return {"method": FusionMethod.ADAPTIVE.value, "base": self.base, "slope": self.slope,
                "low": self.low, "high": self.high, "feature": self.feature}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> AdaptiveRule | None:
        if not data:
            return None
        fields = ("base", "slope", "low", "high")
        return cls(*(float(data[f]) for f in fields), feature=str(data.get("feature", "")))


class OutputFormat(str, Enum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    TSV = "tsv"
    TREC = "trec"


def default_checkpoint_seconds() -> float:
    """Seconds of work between checkpoints: ``CHECKPOINT_SECONDS``, unless the
    ``TASKSIFT_CHECKPOINT_SECONDS`` environment variable says otherwise."""
    value = os.environ.get(CHECKPOINT_SECONDS_VARIABLE, "").strip()
    try:
        return max(0.0, float(value)) if value else CHECKPOINT_SECONDS
    except ValueError:
        return CHECKPOINT_SECONDS


@dataclass(frozen=True)
class ReadingOptions:
    """How a run reads a corpus's files, and what it does when a reader fails on one.

    With ``max_seconds`` (> 0) each file is read in a worker process: one that takes
    longer is stopped, and a reader that crashes takes only its worker down. With 0 files
    are read in this process, without a time limit. A failed file is counted and skipped
    with a warning; ``strict`` makes the first one an error instead.
    """

    max_seconds: float = MAX_SECONDS_PER_FILE
    max_bytes: int | None = MAX_FILE_BYTES  # None: no size limit
    max_memory: int | None = MAX_READER_MEMORY  # of the worker process; None: no limit
    strict: bool = False

    @property
    def isolated(self) -> bool:
        return self.max_seconds > 0


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
