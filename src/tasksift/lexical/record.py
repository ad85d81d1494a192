"""What the manifest records of the lexical side: analyzer, BM25 parameters, files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tasksift.lexical.analyzer import Analyzer

if TYPE_CHECKING:
    pass


LEXICAL_DIR = "lexical"


@dataclass(frozen=True)
class Bm25Params:
    """BM25 as Lucene scores it, with Lucene's default k1 and b."""

    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"


@dataclass(frozen=True)
class LexicalRecord:
    """What the manifest records about the lexical side."""

    analyzer: Analyzer
    bm25: Bm25Params
    engine: str
    terms: int = 0  # distinct terms
    postings: int = 0  # (term, chunk) pairs
    files: dict[str, int] | None = None  # file name -> bytes, checked on load
    matrix: bool = True  # False in a checkpoint: the BM25 matrix is built once complete

    def to_dict(self) -> dict[str, Any]:
        return {
            "analyzer": self.analyzer.to_dict(),
            "bm25": asdict(self.bm25),
            "engine": self.engine,
            "terms": self.terms,
            "postings": self.postings,
            "files": self.files,
            "matrix": self.matrix,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LexicalRecord | None:
        if data is None:
            return None
        return cls(
            analyzer=Analyzer.from_dict(data["analyzer"]),
            bm25=Bm25Params(**data["bm25"]),
            engine=data["engine"],
            terms=int(data.get("terms", 0)),
            postings=int(data.get("postings", 0)),
            files=data.get("files"),
            matrix=bool(data.get("matrix", True)),
        )

    @property
    def bytes(self) -> int:
        return sum((self.files or {}).values())


def engine_name() -> str:
    from importlib.metadata import version

    return f"bm25s {version('bm25s')}"
