"""The indexing pipeline: documents -> chunks -> prompts -> vectors -> index.

``build_index`` creates an index or brings an existing one up to date with its corpus:
new and changed documents (size and mtime first, then content hash) are chunked and
embedded, removed ones are dropped, unchanged ones are not touched. With nothing to embed
no model is loaded. Documents stream through a batch at a time, so memory does not grow
with the corpus. Files are read in a worker process under per-file limits
(``ReadingOptions``): a reader that raises, hangs or crashes fails that file alone, which
is counted and reported, and the run goes on (or, ``strict``, stops). Every commit is a
complete generation (see ``index``): graph, sidecar and lexical index together. An update
of a complete index commits once, so a kill leaves the previous state or the new one; a
first run commits a checkpoint every 30 s of work (batches are bounded by chunks as well
as documents, so long documents checkpoint too), so the next run resumes where a killed
one stopped. It reports through a
:class:`Reporter`; it never prints.

Modules: ``plan`` (what to do, without a model), ``model`` (embedder, prompts, fast path),
``engine`` (read, chunk and embed pending documents in batches: here, or on Ray with
``ray_engine``), ``stores`` (sidecar parts and graph slots), ``writer`` (applies a plan,
commits generations).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tasksift.documents import ReadReport, is_jsonl_corpus
from tasksift.documents.isolated import Reading
from tasksift.errors import (
    IndexLockedError,
    InputError,
    MismatchError,
    NoDocumentsError,
    UsageError,
)
from tasksift.index.generations import CURRENT_FILE, remove_stale_generations
from tasksift.index.manifest import Manifest
from tasksift.index.reader import LoadedIndex, load_index
from tasksift.pipeline.engine import Engine
from tasksift.pipeline.plan import (
    IndexOptions,
    Reporter,
    SilentReporter,
    nothing_to_index,
    plan_update,
)
from tasksift.pipeline.writer import Writer
from tasksift.prompts import Task
from tasksift.vectors.adapters import AdapterRecord, read_adapter
from tasksift.vectors.models import canonical_model_name

__all__ = ["IndexOptions", "IndexSummary", "Reporter", "SilentReporter", "build_index"]

LOCK_FILE = ".lock"
DEFAULT_TASK = Task.RETRIEVAL


@dataclass(frozen=True)
class IndexSummary:
    index_dir: Path
    documents: int
    chunks: int
    added: int
    changed: int
    removed: int
    unchanged: int
    skipped: int
    embedded: int  # chunks embedded by this run
    seconds: float
    embed_seconds: float
    lexical_added: bool = False  # an index without a lexical side got one
    checkpoint_seconds: float = 0.0  # spent committing generations
    failed: int = 0  # files a reader failed on (raised, ran out of time, crashed)

    @property
    def chunks_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0


def build_index(
    corpus: Path,
    index_dir: Path,
    options: IndexOptions,
    reporter: Reporter | None = None,
    engine: Engine | None = None,
) -> IndexSummary:
    """Create or update the index of ``corpus`` (a folder or a JSON Lines file); ``engine``
    reads, chunks and embeds (default: ``LocalEngine``, in this process)."""
    reporter = reporter or SilentReporter()
    began = time.perf_counter()
    _check_corpus(corpus)
    if options.language is not None:
        _check_language(options.language)
    adapter = read_adapter(options.adapter) if options.adapter else None
    report = ReadReport(strict=options.reading.strict)
    with _writer_lock(index_dir), Reading(corpus, options.reading, report) as reading:
        remove_stale_generations(index_dir)  # what a killed run may have left
        existing = None if options.rebuild else _existing(index_dir)
        if existing is not None:
            _check_update(existing.manifest, options, corpus)
            _check_adapter_update(existing.manifest, adapter, corpus)
        elif adapter is not None:
            _warn_adapter_task(adapter, options.task or DEFAULT_TASK, reporter)
        plan = plan_update(corpus, index_dir, existing, reading, reporter)
        _warn(report, reporter, 0)
        if existing is None and not plan.pending:
            raise NoDocumentsError(nothing_to_index(corpus, report))
        if existing is not None and plan.unchanged == 0 and not plan.pending:
            raise NoDocumentsError(
                nothing_to_index(corpus, report) + f"; the index {index_dir} was left as it was"
            )
        writer = Writer(corpus, index_dir, options, existing, reporter, reading, engine, adapter)
        lexical_missing = existing is not None and existing.manifest.lexical is None
        old_format = existing is not None and existing.manifest.parts is None
        work = plan.writes or not _complete(existing) or lexical_missing or old_format
        seen = len(report.warnings)
        embed_seconds = writer.apply(plan) if work else 0.0
        _warn(report, reporter, seen)
    manifest = writer.manifest  # the one just written, or the untouched index's
    return IndexSummary(
        index_dir=index_dir,
        documents=manifest.documents,
        chunks=manifest.chunks,
        added=writer.added_documents,
        changed=plan.changed,
        removed=len(plan.removed) - plan.changed,
        unchanged=plan.unchanged,
        skipped=report.skipped,
        embedded=writer.embedded,
        seconds=time.perf_counter() - began,
        embed_seconds=embed_seconds,
        lexical_added=lexical_missing,
        checkpoint_seconds=writer.checkpoint_seconds,
        failed=report.failed,
    )


def _warn(report: ReadReport, reporter: Reporter, seen: int) -> None:
    for warning in report.warnings[seen:]:
        reporter.warn(warning)


def _complete(existing: LoadedIndex | None) -> bool:
    return existing is not None and existing.manifest.complete


def _check_corpus(corpus: Path) -> None:
    if not corpus.exists():
        raise InputError(f"corpus not found: {corpus}")
    if not (corpus.is_dir() or (corpus.is_file() and is_jsonl_corpus(corpus))):
        raise InputError(f"not a directory or a .jsonl/.jsonl.gz corpus: {corpus}")


def _check_language(language: str) -> None:
    from tasksift.lexical.analyzer import Analyzer

    try:
        Analyzer.for_language(language)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _existing(index_dir: Path) -> LoadedIndex | None:
    """The index to update, or None when there is none yet."""
    if not (index_dir / CURRENT_FILE).is_file():
        return None
    return load_index(index_dir)


def _check_update(manifest: Manifest, options: IndexOptions, corpus: Path) -> None:
    """Refuse an update that asks for other settings, or another corpus, than the index's."""
    if str(corpus.resolve()) != manifest.corpus_root:
        raise MismatchError(
            f"the index was built from {manifest.corpus_root}, not {corpus.resolve()}; an "
            "update would replace its documents. Give the index its own corpus, another "
            "--index, or --rebuild to index this corpus from scratch"
        )
    held_language = manifest.lexical.analyzer.language if manifest.lexical else None
    asked = {
        "model": (
            options.model and canonical_model_name(options.model),
            manifest.model.name,
            "--model",
        ),
        "task": (options.task and options.task.value, manifest.task.value, "--task"),
        "query prompt": (options.query_prompt, manifest.prompts.query, "--query-prompt"),
        "document prompt": (
            options.document_prompt,
            manifest.prompts.document,
            "--document-prompt",
        ),
        "instruction": (options.instruction, manifest.prompts.instruction, "--instruction"),
        "chunk size": (
            options.chunk_tokens and min(options.chunk_tokens, manifest.chunking.chunk_tokens),
            manifest.chunking.chunk_tokens,
            "--chunk-tokens",
        ),
        "overlap": (options.overlap, manifest.chunking.overlap, "--overlap"),
        "lexical analyzer language": (
            options.language and options.language.strip().lower() if held_language else None,
            held_language,
            "--language",
        ),
    }
    for what, (wanted, held, flag) in asked.items():
        if wanted is not None and wanted != held:
            raise MismatchError(
                f"the index was built with {what} {held!r} but this update asks for {wanted!r}; "
                f"either update it without {flag}, or rebuild it with the new setting: "
                f"tasksift index {corpus} {flag} ... --rebuild (or --index NEW_INDEX)"
            )


def _warn_adapter_task(adapter: AdapterRecord, task: Task, reporter: Reporter) -> None:
    if adapter.task is not None and adapter.task != task.value:
        reporter.warn(
            f"adapter {adapter.path} was trained for {adapter.task}; this index is for {task.value}"
        )


def _check_adapter_update(manifest: Manifest, asked: AdapterRecord | None, corpus: Path) -> None:
    """Refuse an update that asks for another adapter than the index's (or one it has not)."""
    held = manifest.adapter
    if asked is None or (held is not None and held.fingerprint == asked.fingerprint):
        return
    built = f"adapter {held.path} ({held.short})" if held else "no adapter"
    raise MismatchError(
        f"the index was built with {built} but this update asks for adapter {asked.path} "
        f"({asked.short}); either update it without --adapter, or rebuild it: tasksift index "
        f"{corpus} --adapter {asked.path} --rebuild (or --index NEW_INDEX)"
    )


@contextmanager
def _writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's writer lock; a second writer is refused at once.

    The lock is an OS file lock, released when its process ends, so a crashed run never
    leaves it stuck. An index folder this run created is removed again if the run fails
    before writing anything.
    """
    from filelock import FileLock, Timeout

    created = not index_dir.exists()
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise IndexLockedError(
            f"another `tasksift index` is writing {index_dir}; wait for it to finish"
        ) from None
    try:
        yield
    except BaseException:
        if created and not (index_dir / CURRENT_FILE).exists():
            shutil.rmtree(index_dir, ignore_errors=True)
        raise
    finally:
        lock.release()
