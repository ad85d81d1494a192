"""Planning an update: what to embed, drop or touch, found from file stats and hashes
without loading a model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tasksift.documents import (
    Document,
    ReadReport,
    iter_text_files,
    read_jsonl_corpus,
    reader_of_suffix,
    reader_versions,
)
from tasksift.documents.isolated import Reading
from tasksift.index.manifest import HnswParams
from tasksift.index.reader import LoadedIndex
from tasksift.lexical.analyzer import DEFAULT_LANGUAGE
from tasksift.options import (
    CHECKPOINT_DOCUMENTS,
    CHECKPOINT_MODEL_BATCHES,
    ReadingOptions,
    default_checkpoint_seconds,
)
from tasksift.prompts import Task


@dataclass(frozen=True)
class IndexOptions:
    """What the user asked for. ``None`` means: the existing index's, else the default."""

    model: str | None = None
    task: Task | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None
    instruction: str | None = None
    profile: str | None = None
    chunk_tokens: int | None = None  # default: as many as fit the model after the prompt
    overlap: int | None = None
    language: str | None = None  # of the lexical side; new index: DEFAULT_LANGUAGE
    trust_remote_code: bool = False
    adapter: str | None = None  # a PEFT LoRA folder merged into the model
    batch_size: int = 32
    hnsw: HnswParams = field(default_factory=HnswParams)
    rebuild: bool = False
    checkpoint_documents: int = CHECKPOINT_DOCUMENTS  # documents read, chunked, embedded at a time
    checkpoint_chunks: int | None = None  # and this many chunks; None: CHECKPOINT_MODEL_BATCHES
    checkpoint_seconds: float = field(default_factory=default_checkpoint_seconds)  # of work
    reading: ReadingOptions = field(default_factory=ReadingOptions)  # limits, --strict

    @property
    def language_or_default(self) -> str:
        return self.language or DEFAULT_LANGUAGE

    @property
    def batch_chunks(self) -> int:
        """Chunks of whole documents embedded at a time (and so between checkpoints)."""
        return max(1, self.checkpoint_chunks or CHECKPOINT_MODEL_BATCHES * self.batch_size)


class Reporter(Protocol):
    """Where the pipeline tells how far it got. Implementations must be cheap.

    Before the documents are embedded, the pipeline goes through ``stage``s, each
    ``advance``d. Then ``run`` starts the whole run over the pending documents: ``advance``
    counts chunks embedded, ``documents`` the documents (and their bytes) done, and
    ``status`` names what the run does besides embedding (a checkpoint), or None.
    """

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...

    def run(self, documents: int, total_bytes: int) -> None: ...

    def documents(self, count: int, done_bytes: int) -> None: ...

    def status(self, text: str | None) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentReporter:
    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def run(self, documents: int, total_bytes: int) -> None:
        pass

    def documents(self, count: int, done_bytes: int) -> None:
        pass

    def status(self, text: str | None) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


@dataclass(frozen=True)
class Pending:
    """The documents a run must read and embed: ids in corpus order, with their bytes.

    A folder corpus's ids are paths relative to it; a JSON Lines corpus's are ``_id``s,
    read again from the file. ``sizes`` (bytes on disk, or of the JSON line) let progress
    estimate the time left before any document is read.
    """

    corpus: Path
    ids: tuple[str, ...]
    sizes: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)

    @property
    def is_jsonl(self) -> bool:
        return self.corpus.is_file()

    def read(self, reading: Reading) -> Iterator[tuple[str, Document | None]]:
        """Each id with its document, read now; None for one skipped or failed (counted in
        ``reading.report``)."""
        if self.is_jsonl:  # planning read it once and reported what it skipped
            wanted = set(self.ids)
            for document in read_jsonl_corpus(self.corpus, ReadReport()):
                if document.doc_id in wanted:
                    yield document.doc_id, document
            return
        yield from reading.documents(self.ids, self.sizes)


@dataclass
class Plan:
    """What an update has to do, found without loading a model (and, for files the index
    does not know yet, without reading them)."""

    pending: Pending
    added: int = 0  # new documents (counted before they are read)
    changed: int = 0
    removed: set[str] = field(default_factory=set)  # ids whose old chunks go away
    unchanged: int = 0
    touched: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (size, mtime)

    @property
    def writes(self) -> bool:
        return bool(self.pending or self.removed or self.touched)


@dataclass(frozen=True)
class _Known:
    size: int
    mtime_ns: int
    sha256: str
    reader: str  # kind:version that extracted it


def _known_documents(existing: LoadedIndex | None, corpus: Path) -> dict[str, _Known]:
    if existing is None:
        return {}
    # Rows written before readers were recorded came from the plain text (or JSON Lines) one.
    default = "jsonl:1" if corpus.is_file() else "text:1"
    names = ["doc_id", "doc_size", "doc_mtime_ns", "doc_sha256", "reader"]
    known = {}
    for path in existing.sidecar.parquet_files():
        table = existing.sidecar.table(names, [path])
        codes = table.column("doc_id").combine_chunks().dictionary_encode().indices
        _, first = np.unique(codes.to_numpy(zero_copy_only=False), return_index=True)
        rows = table.take(first).to_pydict()  # a document's first row holds its stats
        for doc_id, size, mtime, digest, reader in zip(*rows.values(), strict=True):
            if doc_id not in known:
                known[doc_id] = _Known(size, mtime, digest, reader or default)
    return known


def _reader_is_current(path: Path, stored: str) -> bool:
    """Whether the reader that extracted ``path`` is the one that would read it now."""
    reader = reader_of_suffix(path)
    kind = reader.kind if reader else stored.split(":", 1)[0]
    return stored == f"{kind}:{reader_versions().get(kind)}"


def plan_update(
    corpus: Path,
    index_dir: Path,
    existing: LoadedIndex | None,
    reading: Reading,
    reporter: Reporter,
) -> Plan:
    """Compare the corpus with the index: added, changed, removed, touched, unchanged.

    A file the index does not know is pending without being read; one it knows is read
    only when its size or mtime changed (or its reader did), to compare its content hash.
    """
    known = _known_documents(existing, corpus)
    plan = Plan(Pending(corpus, (), ()))
    ids: list[str] = []
    sizes: list[int] = []
    present: set[str] = set()
    for doc_id, size, document in _candidates(corpus, index_dir, known, reading, reporter):
        present.add(doc_id)
        before = known.get(doc_id)
        if before is None:
            plan.added += 1
        elif document is None:
            plan.unchanged += 1
            continue
        elif before.sha256 == document.sha256 and before.reader == document.reader:
            plan.unchanged += 1
            if (before.size, before.mtime_ns) != (document.size, document.mtime_ns):
                plan.touched[doc_id] = (document.size, document.mtime_ns)
            continue
        else:
            plan.changed += 1
            plan.removed.add(doc_id)
        ids.append(doc_id)
        sizes.append(size)
    plan.removed |= set(known) - present
    plan.pending = Pending(corpus, tuple(ids), tuple(sizes))
    return plan


def _candidates(
    corpus: Path,
    index_dir: Path,
    known: dict[str, _Known],
    reading: Reading,
    reporter: Reporter,
) -> Iterator[tuple[str, int, Document | None]]:
    """Every document of the corpus as (id, bytes, document read now or None).

    A known file with the same size, mtime and reader is not read (None, unchanged); an
    unknown one is not read either (None, pending); any other is read.
    """
    if corpus.is_file():
        reporter.stage("reading corpus", None)
        for document in read_jsonl_corpus(corpus, reading.report):
            reporter.advance(1)
            yield document.doc_id, document.size, document
        return
    files = list(iter_text_files(corpus, exclude=(index_dir,)))
    reporter.stage("listing files", len(files))
    for path in files:
        reporter.advance(1)
        doc_id = path.relative_to(corpus).as_posix()
        try:
            stat = path.stat()
        except OSError:
            stat = None
        before = known.get(doc_id)
        if before is None:
            yield doc_id, stat.st_size if stat else 0, None
            continue
        same = stat is not None and (stat.st_size, stat.st_mtime_ns) == (
            before.size,
            before.mtime_ns,
        )
        if same and _reader_is_current(path, before.reader):
            yield doc_id, stat.st_size, None
            continue
        document = reading.one(doc_id)
        if document is not None:
            yield doc_id, document.size, document


def nothing_to_index(corpus: Path, report: ReadReport) -> str:
    seen = []
    if report.binary:
        seen.append(f"{report.binary} binary")
    if report.unreadable:
        seen.append(f"{report.unreadable} unreadable")
    if report.empty:
        seen.append(f"{report.empty} empty")
    if report.too_large:
        seen.append(f"{report.too_large} too large")
    if report.failed:
        seen.append(f"{report.failed} failed")
    detail = f" ({', '.join(seen)} file(s) skipped)" if seen else ""
    return f"no text documents to index in {corpus}{detail}"
