"""The manifest: what an index records, as typed records.

Everything needed to reproduce the vectors (model and its weights' fingerprint, adapter, task,
prompts, chunking, HNSW settings), what searches check against it, and where the rest of a
generation is (sidecar parts, the lexical side's files, the ONNX encoder). It is written as
``manifest.json`` in each generation and in the schema metadata of every sidecar part; it
imports nothing heavy, so that ``info`` and refusals start fast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tasksift import __version__
from tasksift.errors import CorruptIndexError
from tasksift.lexical.record import LexicalRecord
from tasksift.options import AdaptiveRule, ChunkingConfig
from tasksift.prompts import PromptSet, Task
from tasksift.vectors.adapters import AdapterRecord

PARTS_DIR = "parts"  # a generation's sidecar parts


@dataclass(frozen=True)
class PartRecord:
    """One part as the manifest lists it: file stem, rows, bytes of its two files."""

    name: str
    rows: int
    parquet_bytes: int
    arrow_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": self.rows,
            "parquet_bytes": self.parquet_bytes,
            "arrow_bytes": self.arrow_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartRecord:
        return cls(
            str(data["name"]),
            int(data["rows"]),
            int(data["parquet_bytes"]),
            int(data["arrow_bytes"]),
        )

    def files(self, folder: Path) -> tuple[Path, Path]:
        """The part's Parquet and Arrow files under a generation ``folder``."""
        return (
            folder / PARTS_DIR / f"{self.name}.parquet",
            folder / PARTS_DIR / f"{self.name}.arrow",
        )


FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)  # 1: one chunks.parquet, terms in lexical/; 2: parts
READABLE_TEXT = " and ".join(map(str, READABLE_FORMATS))
MANIFEST_KEY = b"tasksift"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str | None
    revision: str | None
    fingerprint: str
    dimension: int
    max_seq_length: int
    normalize: bool = True
    trust_remote_code: bool = False


@dataclass(frozen=True)
class HnswParams:
    space: str = "cosine"
    M: int = 16
    ef_construction: int = 200
    ef: int = 100


@dataclass(frozen=True)
class OnnxEmbedderRecord:
    """Where the index's ONNX embedder is and how its check went (the manifest's
    ``fast_path``; written by ``tasksift.onnx.embedder``)."""

    directory: str | None  # relative to the index folder
    passed: bool
    min_cosine: float | None = None
    probes: int = 0
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> OnnxEmbedderRecord | None:
        return None if data is None else cls(**data)


@dataclass(frozen=True)
class Manifest:
    """Everything needed to reproduce an index's vectors and to check a search against it."""

    model: ModelInfo
    task: Task
    prompts: PromptSet
    chunking: ChunkingConfig
    hnsw: HnswParams
    documents: int
    chunks: int
    corpus_root: str
    vectors_bytes: int = 0
    vectors_total: int = 0  # slots in the hnswlib file, deleted ones included
    complete: bool = True  # False for a checkpoint of a run that has not finished
    fast_path: OnnxEmbedderRecord | None = None  # None: built without one
    lexical: LexicalRecord | None = None  # None: dense only (built before a lexical side)
    readers: dict[str, int] | None = None  # kind -> version of the readers (documents)
    parts: tuple[PartRecord, ...] | None = None  # sidecar parts; None: format 1
    fusion: AdaptiveRule | None = None  # hybrid's adaptive rule; None: the tool's default
    adapter: AdapterRecord | None = None  # the LoRA adapter merged into the model, if any
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    tool_version: str = __version__
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        data["task"] = self.task.value
        data["prompts"] = self.prompts.to_dict()
        data["lexical"] = self.lexical and self.lexical.to_dict()
        data["parts"] = None if self.parts is None else [p.to_dict() for p in self.parts]
        data["fusion"] = self.fusion and self.fusion.to_dict()
        data["adapter"] = self.adapter and self.adapter.to_dict()
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        version = data.get("format_version")
        if version not in READABLE_FORMATS:
            raise CorruptIndexError(
                f"index format version {version!r} is not supported by tasksift {__version__} "
                f"(reads versions {READABLE_TEXT}); rebuild it with `tasksift index --rebuild`"
            )
        return cls(
            model=ModelInfo(**data["model"]),
            task=Task(data["task"]),
            prompts=PromptSet.from_dict(data["prompts"]),
            chunking=ChunkingConfig(**{k: int(v) for k, v in data["chunking"].items()}),
            hnsw=HnswParams(**data["hnsw"]),
            documents=int(data["documents"]),
            chunks=int(data["chunks"]),
            corpus_root=data["corpus_root"],
            vectors_bytes=int(data.get("vectors_bytes", 0)),
            vectors_total=int(data.get("vectors_total", data["chunks"])),
            complete=bool(data.get("complete", True)),
            fast_path=OnnxEmbedderRecord.from_dict(data.get("fast_path")),
            lexical=LexicalRecord.from_dict(data.get("lexical")),
            readers=data.get("readers"),
            parts=_parts(data.get("parts")),
            fusion=AdaptiveRule.from_dict(data.get("fusion")),
            adapter=AdapterRecord.from_dict(data.get("adapter")),
            created_at=data["created_at"],
            tool_version=data["tool_version"],
            format_version=version,
        )

    @property
    def has_lexical(self) -> bool:
        """Whether the index has a BM25 matrix (a checkpoint of a first run has none yet)."""
        return self.lexical is not None and self.lexical.matrix


def _parts(data: list[dict[str, Any]] | None) -> tuple[PartRecord, ...] | None:
    return None if data is None else tuple(PartRecord.from_dict(p) for p in data)
