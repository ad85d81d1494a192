"""The lexical index: BM25 over the analyzed terms of every chunk, beside the vectors.

It lives in a generation's ``lexical/`` folder and is written, committed and cleaned up
with the graph and the sidecar (see ``index``). Scoring is bm25s's: a sparse matrix of
precomputed BM25 weights, one row per chunk in sidecar (label) order, loaded memory-mapped.
Beside it the folder keeps every chunk's term ids (``terms.npy`` and ``term_offsets.npy``),
so that an update analyzes only new chunks: the matrix is rebuilt from stored ids, since
document frequencies and the mean length change with every document added or removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasksift.analysis import Analyzer
from tasksift.errors import CorruptIndexError

if TYPE_CHECKING:
    import bm25s

LEXICAL_DIR = "lexical"
TERMS_FILE = "terms.npy"
OFFSETS_FILE = "term_offsets.npy"
VOCAB_FILE = "vocab.index.json"  # bm25s's own name for it


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "analyzer": self.analyzer.to_dict(),
            "bm25": asdict(self.bm25),
            "engine": self.engine,
            "terms": self.terms,
            "postings": self.postings,
            "files": self.files,
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
        )

    @property
    def bytes(self) -> int:
        return sum((self.files or {}).values())


def engine_name() -> str:
    from importlib.metadata import version

    return f"bm25s {version('bm25s')}"


class TermStore:
    """The terms of every chunk by label, as ids into a vocabulary that only grows.

    The writer keeps one while it applies a plan: new chunks are analyzed once, removed
    ones dropped, and ``write`` builds the BM25 matrix of the live labels.
    """

    def __init__(self, analyzer: Analyzer, params: Bm25Params) -> None:
        self.analyzer = analyzer
        self.params = params
        self.vocabulary: list[str] = []
        self._ids: dict[str, int] = {}
        self.by_label: dict[int, np.ndarray] = {}

    @classmethod
    def load(cls, folder: Path, record: LexicalRecord, labels: Sequence[int]) -> TermStore:
        """The store a generation's ``lexical/`` folder holds for ``labels`` (sidecar order)."""
        store = cls(record.analyzer, record.bm25)
        try:
            vocabulary = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
            ids = np.load(folder / TERMS_FILE)
            offsets = np.load(folder / OFFSETS_FILE)
        except (OSError, ValueError) as exc:
            raise CorruptIndexError(f"lexical index in {folder} is unreadable: {exc}") from None
        if len(offsets) != len(labels) + 1:
            raise CorruptIndexError(f"lexical index in {folder} does not match the sidecar")
        store.vocabulary = sorted(vocabulary, key=vocabulary.__getitem__)
        store._ids = {term: i for i, term in enumerate(store.vocabulary)}
        for position, label in enumerate(labels):
            store.by_label[int(label)] = ids[offsets[position] : offsets[position + 1]]
        return store

    def add(self, labels: Iterable[int], texts: Iterable[str]) -> None:
        """Analyze ``texts`` and store their terms under ``labels``."""
        ids = self._ids
        for label, terms in zip(labels, self.analyzer.terms_of_all(texts), strict=True):
            row = np.empty(len(terms), dtype=np.uint32)
            for i, term in enumerate(terms):
                found = ids.get(term)
                if found is None:
                    found = ids[term] = len(self.vocabulary)
                    self.vocabulary.append(term)
                row[i] = found
            self.by_label[int(label)] = row

    def drop(self, labels: Iterable[int]) -> None:
        for label in labels:
            self.by_label.pop(int(label), None)

    def relabel(self, old_to_new: dict[int, int]) -> None:
        """Follow a compaction of the graph, which gives chunks new labels."""
        self.by_label = {old_to_new[old]: row for old, row in self.by_label.items()}

    def write(self, folder: Path, labels: Sequence[int]) -> LexicalRecord:
        """Build the BM25 index of ``labels`` (sidecar order) and save it to ``folder``."""
        import bm25s

        rows = [self.by_label[int(label)] for label in labels]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.uint32)
        used, compact = np.unique(flat, return_inverse=True)  # drop terms no chunk has now
        vocabulary = {self.vocabulary[int(i)]: n for n, i in enumerate(used)}
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        compact = compact.astype(np.uint32)
        corpus_ids = [compact[offsets[i] : offsets[i + 1]].tolist() for i in range(len(rows))]
        if not vocabulary:  # every chunk was stopwords only: keep the matrix well formed
            vocabulary = {"": 0}
        retriever = bm25s.BM25(k1=self.params.k1, b=self.params.b, method=self.params.method)
        retriever.index((corpus_ids, vocabulary), create_empty_token=False, show_progress=False)
        folder.mkdir()
        retriever.save(str(folder), show_progress=False)
        np.save(folder / TERMS_FILE, compact)
        np.save(folder / OFFSETS_FILE, offsets)
        return LexicalRecord(
            analyzer=self.analyzer,
            bm25=self.params,
            engine=engine_name(),
            terms=len(vocabulary),
            postings=int(len(retriever.scores["data"])),
            files={p.name: p.stat().st_size for p in sorted(folder.iterdir())},
        )


class LexicalIndex:
    """A generation's BM25 index, opened for searching."""

    def __init__(self, retriever: bm25s.BM25, record: LexicalRecord) -> None:
        self.retriever = retriever
        self.record = record
        self.analyzer = record.analyzer

    @classmethod
    def open(cls, folder: Path, record: LexicalRecord, rows: int) -> LexicalIndex:
        """Load (memory-mapped) and check against the manifest's record."""
        import bm25s

        sizes = {p.name: p.stat().st_size for p in folder.iterdir()} if folder.is_dir() else {}
        if sizes != (record.files or {}):
            raise CorruptIndexError(
                f"lexical index in {folder} does not match its manifest (missing or changed "
                "files); rebuild it with `tasksift index --rebuild`"
            )
        try:
            retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)
        except Exception as exc:
            raise CorruptIndexError(f"lexical index in {folder} is unreadable: {exc}") from None
        if retriever.scores["num_docs"] != rows:
            raise CorruptIndexError(
                f"lexical index in {folder} holds {retriever.scores['num_docs']} chunks, the "
                f"sidecar {rows}; rebuild it with `tasksift index --rebuild`"
            )
        return cls(retriever, record)

    def query_terms(self, query: str) -> list[str]:
        """The query's terms that the index knows (repeats kept)."""
        vocabulary = self.retriever.vocab_dict
        return [t for t in self.analyzer.terms(query) if t in vocabulary]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (sidecar order) for ``query``; zeros when no term matches."""
        terms = self.query_terms(query)
        if not terms:
            return np.zeros(self.retriever.scores["num_docs"], dtype=np.float32)
        ids = [self.retriever.vocab_dict[t] for t in terms]
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)
