"""Planning an update: what to embed, drop or touch, found from file stats and hashes
without loading a model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tasksift.analysis import DEFAULT_LANGUAGE
from tasksift.documents import (
    Document,
    ReadReport,
    iter_text_files,
    read_document,
    read_jsonl_corpus,
    reader_of_suffix,
    reader_versions,
)
from tasksift.index import HnswParams, LoadedIndex
from tasksift.options import CHECKPOINT_DOCUMENTS
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
    batch_size: int = 32
    hnsw: HnswParams = field(default_factory=HnswParams)
    rebuild: bool = False
    checkpoint_documents: int = CHECKPOINT_DOCUMENTS

    @property
    def language_or_default(self) -> str:
        return self.language or DEFAULT_LANGUAGE


class Reporter(Protocol):
    """Where the pipeline tells how far it got. Implementations must be cheap."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentReporter:
    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


@dataclass
class Plan:
    """What an update has to do, found without loading a model."""

    to_embed: list[Document] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    removed: set[str] = field(default_factory=set)  # ids whose old chunks go away
    unchanged: int = 0
    touched: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (size, mtime)

    @property
    def writes(self) -> bool:
        return bool(self.to_embed or self.removed or self.touched)


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
    columns = [c.to_pylist() for c in existing.rows.select(names).columns]
    known = {}
    for doc_id, size, mtime, digest, reader in zip(*columns, strict=True):
        known.setdefault(doc_id, _Known(size, mtime, digest, reader or default))
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
    report: ReadReport,
    reporter: Reporter,
) -> Plan:
    """Compare the corpus with the index: added, changed, removed, touched, unchanged."""
    known = _known_documents(existing, corpus)
    plan = Plan()
    present: set[str] = set()
    for document in _changed_candidates(corpus, index_dir, known, report, reporter, plan, present):
        present.add(document.doc_id)
        before = known.get(document.doc_id)
        if before is None:
            plan.added += 1
            plan.to_embed.append(document)
        elif before.sha256 == document.sha256 and before.reader == document.reader:
            plan.unchanged += 1
            if (before.size, before.mtime_ns) != (document.size, document.mtime_ns):
                plan.touched[document.doc_id] = (document.size, document.mtime_ns)
        else:
            plan.changed += 1
            plan.removed.add(document.doc_id)
            plan.to_embed.append(document)
    plan.removed |= set(known) - present
    return plan


def _changed_candidates(
    corpus: Path,
    index_dir: Path,
    known: dict[str, _Known],
    report: ReadReport,
    reporter: Reporter,
    plan: Plan,
    present: set[str],
) -> Iterator[Document]:
    """Documents that may have changed; unchanged files (same size and mtime) are not read.

    Those are counted in ``plan.unchanged`` and added to ``present`` right away.
    """
    if corpus.is_file():
        reporter.stage("reading corpus", None)
        for document in read_jsonl_corpus(corpus, report):
            reporter.advance(1)
            yield document
        return
    files = list(iter_text_files(corpus, exclude=(index_dir,)))
    reporter.stage("reading files", len(files))
    for path in files:
        reporter.advance(1)
        doc_id = path.relative_to(corpus).as_posix()
        before = known.get(doc_id)
        if before is not None:
            try:
                stat = path.stat()
            except OSError:
                stat = None
            same = stat is not None and (stat.st_size, stat.st_mtime_ns) == (
                before.size,
                before.mtime_ns,
            )
            if same and _reader_is_current(path, before.reader):
                present.add(doc_id)
                plan.unchanged += 1
                continue
        document = read_document(path, corpus, report)
        if document is not None:
            yield document


def nothing_to_index(corpus: Path, report: ReadReport) -> str:
    seen = []
    if report.binary:
        seen.append(f"{report.binary} binary")
    if report.unreadable:
        seen.append(f"{report.unreadable} unreadable")
    if report.empty:
        seen.append(f"{report.empty} empty")
    detail = f" ({', '.join(seen)} file(s) skipped)" if seen else ""
    return f"no text documents to index in {corpus}{detail}"
