"""The indexing pipeline: documents -> chunks -> prompts -> vectors -> index.

``build_index`` creates an index or brings an existing one up to date with its corpus:
new and changed documents (size and mtime first, then content hash) are chunked and
embedded, removed ones are dropped, unchanged ones are not touched. With nothing to embed
no model is loaded. Every commit is a complete generation (see ``index``): an update of a
complete index commits once, so a kill leaves the previous state or the new one; a first
run commits every few hundred documents, so the next run resumes where a killed one
stopped. It reports through a :class:`Reporter`; it never prints.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tasksift.chunks import Chunk, Chunker, ChunkingConfig
from tasksift.documents import (
    Document,
    ReadReport,
    is_jsonl_corpus,
    iter_text_files,
    read_document,
    read_jsonl_corpus,
)
from tasksift.errors import IndexLockedError, InputError, MismatchError, NoDocumentsError
from tasksift.fastpath import FastPathRecord, export_query_encoder, remove_other_encoders
from tasksift.index import (
    CHUNK_COLUMNS,
    CURRENT_FILE,
    VECTORS_FILE,
    HnswParams,
    LoadedIndex,
    Manifest,
    ModelInfo,
    build_graph,
    generation_dir,
    load_index,
    remove_stale_generations,
    write_generation,
)
from tasksift.options import CHECKPOINT_DOCUMENTS
from tasksift.prompts import PromptSet, Task, resolve_prompts
from tasksift.vectors import (
    DEFAULT_MODEL,
    Embedder,
    SentenceTransformerEmbedder,
    canonical_model_name,
    config_prompts,
    load_embedder,
)

if TYPE_CHECKING:
    import hnswlib

DEFAULT_OVERLAP = 32
EMBED_SLICE = 128  # chunks per progress step; sorted by length so padding stays small
COMPACT_WHEN_DELETED = 0.25  # rebuild the graph once this share of its slots is dead
LOCK_FILE = ".lock"


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
    trust_remote_code: bool = False
    batch_size: int = 32
    hnsw: HnswParams = field(default_factory=HnswParams)
    rebuild: bool = False
    checkpoint_documents: int = CHECKPOINT_DOCUMENTS


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

    @property
    def chunks_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0


@dataclass
class _Plan:
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


def build_index(
    corpus: Path, index_dir: Path, options: IndexOptions, reporter: Reporter | None = None
) -> IndexSummary:
    """Create or update the index of ``corpus`` (a folder or a JSON Lines file)."""
    reporter = reporter or SilentReporter()
    began = time.perf_counter()
    _check_corpus(corpus)
    with _writer_lock(index_dir):
        remove_stale_generations(index_dir)  # what a killed run may have left
        existing = None if options.rebuild else _existing(index_dir)
        if existing is not None:
            _check_update(existing.manifest, options, corpus)
        report = ReadReport()
        plan = _plan(corpus, index_dir, existing, report, reporter)
        for warning in report.warnings:
            reporter.warn(warning)
        if existing is None and not plan.to_embed:
            raise NoDocumentsError(_nothing_to_index(corpus, report))
        if existing is not None and plan.unchanged == 0 and not plan.to_embed:
            raise NoDocumentsError(
                _nothing_to_index(corpus, report) + f"; the index {index_dir} was left as it was"
            )
        writer = _Writer(corpus, index_dir, options, existing, reporter)
        embed_seconds = writer.apply(plan) if plan.writes or not _complete(existing) else 0.0
    manifest = writer.manifest  # the one just written, or the untouched index's
    return IndexSummary(
        index_dir=index_dir,
        documents=manifest.documents,
        chunks=manifest.chunks,
        added=plan.added,
        changed=plan.changed,
        removed=len(plan.removed) - plan.changed,
        unchanged=plan.unchanged,
        skipped=report.skipped,
        embedded=writer.embedded,
        seconds=time.perf_counter() - began,
        embed_seconds=embed_seconds,
    )


def _complete(existing: LoadedIndex | None) -> bool:
    return existing is not None and existing.manifest.complete


def _check_corpus(corpus: Path) -> None:
    if not corpus.exists():
        raise InputError(f"corpus not found: {corpus}")
    if not (corpus.is_dir() or (corpus.is_file() and is_jsonl_corpus(corpus))):
        raise InputError(f"not a directory or a .jsonl/.jsonl.gz corpus: {corpus}")


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
            options.chunk_tokens and min(options.chunk_tokens, manifest.chunking["chunk_tokens"]),
            manifest.chunking["chunk_tokens"],
            "--chunk-tokens",
        ),
        "overlap": (options.overlap, manifest.chunking["overlap"], "--overlap"),
    }
    for what, (wanted, held, flag) in asked.items():
        if wanted is not None and wanted != held:
            raise MismatchError(
                f"the index was built with {what} {held!r} but this update asks for {wanted!r}; "
                f"either update it without {flag}, or rebuild it with the new setting: "
                f"tasksift index {corpus} {flag} ... --rebuild (or --index NEW_INDEX)"
            )


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Known:
    size: int
    mtime_ns: int
    sha256: str


def _known_documents(existing: LoadedIndex | None) -> dict[str, _Known]:
    if existing is None:
        return {}
    columns = existing.rows.select(["doc_id", "doc_size", "doc_mtime_ns", "doc_sha256"])
    known = {}
    for doc_id, size, mtime, digest in zip(*(c.to_pylist() for c in columns.columns), strict=True):
        known.setdefault(doc_id, _Known(size, mtime, digest))
    return known


def _plan(
    corpus: Path,
    index_dir: Path,
    existing: LoadedIndex | None,
    report: ReadReport,
    reporter: Reporter,
) -> _Plan:
    known = _known_documents(existing)
    plan = _Plan()
    present: set[str] = set()
    for document in _changed_candidates(corpus, index_dir, known, report, reporter, plan, present):
        present.add(document.doc_id)
        before = known.get(document.doc_id)
        if before is None:
            plan.added += 1
            plan.to_embed.append(document)
        elif before.sha256 == document.sha256:
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
    plan: _Plan,
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
            if stat is not None and (stat.st_size, stat.st_mtime_ns) == (
                before.size,
                before.mtime_ns,
            ):
                present.add(doc_id)
                plan.unchanged += 1
                continue
        document = read_document(path, corpus, report)
        if document is not None:
            yield document


def _nothing_to_index(corpus: Path, report: ReadReport) -> str:
    seen = []
    if report.binary:
        seen.append(f"{report.binary} binary")
    if report.unreadable:
        seen.append(f"{report.unreadable} unreadable")
    if report.empty:
        seen.append(f"{report.empty} empty")
    detail = f" ({', '.join(seen)} file(s) skipped)" if seen else ""
    return f"no text documents to index in {corpus}{detail}"


# ---------------------------------------------------------------- writing


class _Writer:
    """Applies a plan to the index: one generation per checkpoint of new documents."""

    def __init__(
        self,
        corpus: Path,
        index_dir: Path,
        options: IndexOptions,
        existing: LoadedIndex | None,
        reporter: Reporter,
    ) -> None:
        self.corpus = corpus
        self.index_dir = index_dir
        self.options = options
        self.existing = existing
        self.reporter = reporter
        self.embedded = 0
        self.manifest: Manifest | None = existing.manifest if existing else None
        self.rows: dict[str, list[Any]] = (
            existing.rows.to_pydict() if existing else {name: [] for name in CHUNK_COLUMNS}
        )
        self.graph: hnswlib.Index | None = None
        self.next_label = self.manifest.vectors_total if self.manifest else 0
        # Slots of deleted chunks, reused by new ones before the graph grows.
        self.free_labels = sorted(set(range(self.next_label)) - set(self.rows["label"]))

    def apply(self, plan: _Plan) -> float:
        """Write the plan; the seconds spent embedding."""
        self._touch(plan.touched)
        if plan.removed:
            self._drop(plan.removed)
        if not plan.to_embed:
            self._commit(complete=True)
            return 0.0
        embedder, prompts, chunker, config = self._model()
        self._export_fast_path(embedder, prompts)
        chunks = self._chunk(chunker, plan.to_embed, config)
        self.reporter.stage("embedding chunks", sum(len(c) for c in chunks))
        embed_seconds = 0.0
        step = self._checkpoint_step(len(plan.to_embed))
        for start in range(0, len(plan.to_embed), step):
            documents = plan.to_embed[start : start + step]
            batch = [c for group in chunks[start : start + step] for c in group]
            began = time.perf_counter()
            vectors = embed_chunks(embedder, batch, prompts, self.options.batch_size, self.reporter)
            embed_seconds += time.perf_counter() - began
            self._add(documents, batch, vectors)
            self._commit(complete=start + step >= len(plan.to_embed))
        return embed_seconds

    def _checkpoint_step(self, documents: int) -> int:
        """Documents per commit: checkpoints while no complete state exists yet.

        An update of a complete index commits once, at the end, so that the index is always
        the previous complete state or the new one. A first run (or the resumption of an
        interrupted one) commits every few hundred documents, so that a killed run loses at
        most one checkpoint.
        """
        if self.existing is not None and self.existing.manifest.complete:
            return max(documents, 1)
        return max(1, self.options.checkpoint_documents)

    # -- model and chunks

    def _export_fast_path(self, embedder: Embedder, prompts: PromptSet) -> None:
        """Give the index a checked ONNX query encoder (see ``fastpath``), when possible."""
        if not isinstance(embedder, SentenceTransformerEmbedder):
            return
        self.reporter.stage("exporting query encoder", None)
        record = export_query_encoder(
            embedder, prompts.query, prompts.query_adapter, self.index_dir
        )
        self.manifest = replace(self.manifest, fast_path=record.to_dict())
        if not record.passed:
            self.reporter.warn(f"no fast query path for this model: {record.reason}")

    def _model(self) -> tuple[Embedder, PromptSet, Chunker, ChunkingConfig]:
        self.reporter.stage("loading model", None)
        if self.manifest is not None:
            embedder = load_embedder(
                self.manifest.model.name,
                trust_remote_code=self.manifest.model.trust_remote_code,
                expected_fingerprint=self.manifest.model.fingerprint,
            )
            prompts = self.manifest.prompts
            chunker = Chunker(embedder.tokenizer, embedder.max_seq_length, prompts.document)
            config = ChunkingConfig(**self.manifest.chunking)
            return embedder, prompts, chunker, config
        options = self.options
        embedder = load_embedder(
            options.model or DEFAULT_MODEL, trust_remote_code=options.trust_remote_code
        )
        prompts = resolve_prompts(
            embedder.name,
            options.task or Task.RETRIEVAL,
            _model_prompts(embedder),
            profile_name=options.profile,
            query_prompt=options.query_prompt,
            document_prompt=options.document_prompt,
            instruction=options.instruction,
        )
        chunker = Chunker(embedder.tokenizer, embedder.max_seq_length, prompts.document)
        size = options.chunk_tokens if options.chunk_tokens is not None else chunker.budget
        overlap = options.overlap if options.overlap is not None else DEFAULT_OVERLAP
        try:
            config = ChunkingConfig(chunk_tokens=min(size, chunker.budget), overlap=overlap)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        self.manifest = Manifest(
            model=ModelInfo(
                name=embedder.name,
                path=str(embedder.source.path) if embedder.source.path else None,
                revision=embedder.source.revision,
                fingerprint=embedder.fingerprint,
                dimension=embedder.dimension,
                max_seq_length=embedder.max_seq_length,
                trust_remote_code=options.trust_remote_code,
            ),
            task=options.task or Task.RETRIEVAL,
            prompts=prompts,
            chunking={"chunk_tokens": config.chunk_tokens, "overlap": config.overlap},
            hnsw=options.hnsw,
            documents=0,
            chunks=0,
            corpus_root=str(self.corpus.resolve()),
        )
        return embedder, prompts, chunker, config

    def _chunk(
        self, chunker: Chunker, documents: Sequence[Document], config: ChunkingConfig
    ) -> list[list[Chunk]]:
        self.reporter.stage("chunking", len(documents))
        chunks = []
        for document in documents:
            chunks.append(chunker.chunk(document, config))
            self.reporter.advance(1)
        return chunks

    # -- rows and graph

    def _touch(self, touched: dict[str, tuple[int, int]]) -> None:
        for i, doc_id in enumerate(self.rows["doc_id"]):
            if doc_id in touched:
                self.rows["doc_size"][i], self.rows["doc_mtime_ns"][i] = touched[doc_id]

    def _drop(self, doc_ids: set[str]) -> None:
        keep = [i for i, doc_id in enumerate(self.rows["doc_id"]) if doc_id not in doc_ids]
        dropped = sorted(set(self.rows["label"]) - {self.rows["label"][i] for i in keep})
        self.rows = {name: [values[i] for i in keep] for name, values in self.rows.items()}
        graph = self._graph(extra=0)
        for label in dropped:
            graph.mark_deleted(label)
        self.free_labels = sorted([*self.free_labels, *dropped])

    def _graph(self, extra: int) -> hnswlib.Index:
        """The graph being updated, with room for ``extra`` more vectors."""
        if self.graph is None:
            if self.existing is not None:
                self.graph = self.existing.graph
            else:
                self.graph = build_graph(np.zeros((0, self.manifest.model.dimension)), self.hnsw)
        needed = self.next_label + extra
        if needed > self.graph.get_max_elements():
            self.graph.resize_index(max(needed, int(self.graph.get_max_elements() * 1.5)))
        return self.graph

    @property
    def hnsw(self) -> HnswParams:
        return self.manifest.hnsw if self.manifest else self.options.hnsw

    def _add(
        self, documents: Sequence[Document], chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
        reused = self.free_labels[: len(chunks)]
        self.free_labels = self.free_labels[len(chunks) :]
        fresh = list(range(self.next_label, self.next_label + len(chunks) - len(reused)))
        labels = reused + fresh
        graph = self._graph(extra=len(fresh))
        self.next_label += len(fresh)
        if len(chunks):
            graph.add_items(vectors, np.asarray(labels, dtype=np.int64))
        by_id = {d.doc_id: d for d in documents}
        source = self.corpus.name if self.corpus.is_file() else None
        for label, chunk in zip(labels, chunks, strict=True):
            document = by_id[chunk.doc_id]
            values = {
                "label": label,
                "doc_id": chunk.doc_id,
                "path": source or chunk.doc_id,
                "ordinal": chunk.ordinal,
                "start": chunk.start,
                "end": chunk.end,
                "text": chunk.text,
                "doc_sha256": document.sha256,
                "doc_size": document.size,
                "doc_mtime_ns": document.mtime_ns,
            }
            for name, value in values.items():
                self.rows[name].append(value)
        self.embedded += len(chunks)

    def _compact_if_sparse(self) -> None:
        """Rebuild the graph from the live vectors when deletions left it mostly empty."""
        live = len(self.rows["label"])
        if self.graph is None or self.next_label - live <= COMPACT_WHEN_DELETED * self.next_label:
            return
        self.reporter.stage("compacting", None)
        order = sorted(range(live), key=lambda i: self.rows["label"][i])
        old_labels = [self.rows["label"][i] for i in order]
        vectors = np.asarray(self.graph.get_items(old_labels), dtype=np.float32)
        self.graph = build_graph(vectors.reshape(live, -1), self.hnsw)
        self.rows = {name: [values[i] for i in order] for name, values in self.rows.items()}
        self.rows["label"] = list(range(live))
        self.next_label, self.free_labels = live, []

    def _commit(self, complete: bool) -> None:
        import pyarrow as pa

        if complete:
            self._compact_if_sparse()
        self.reporter.stage("writing index", None)
        table = pa.Table.from_pydict(self.rows).sort_by("label")
        manifest = replace(
            self.manifest,
            documents=len(set(self.rows["doc_id"])),
            chunks=table.num_rows,
            vectors_total=self.next_label,
            complete=complete,
            created_at=_now(),
        )
        graph: hnswlib.Index | Path = (
            self.graph if self.graph is not None else generation_dir(self.index_dir) / VECTORS_FILE
        )
        write_generation(self.index_dir, manifest, table, graph)
        self.manifest = manifest
        if complete:
            record = FastPathRecord.from_dict(manifest.fast_path)
            remove_other_encoders(self.index_dir, record.directory if record else None)


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat()


def _model_prompts(embedder: Embedder) -> dict[str, str]:
    if isinstance(embedder, SentenceTransformerEmbedder):
        return embedder.prompts
    return config_prompts(getattr(getattr(embedder, "source", None), "path", None))


def embed_chunks(
    embedder: Embedder,
    chunks: Sequence[Chunk],
    prompts: PromptSet,
    batch_size: int,
    reporter: Reporter,
) -> np.ndarray:
    """Vectors of ``document prompt + chunk text``, in the order of ``chunks``."""
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].text), reverse=True)
    vectors = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    for begin in range(0, len(order), EMBED_SLICE):
        part = order[begin : begin + EMBED_SLICE]
        vectors[part] = embedder.encode(
            [chunks[i].text for i in part],
            prompts.document,
            adapter=prompts.document_adapter,
            batch_size=batch_size,
        )
        reporter.advance(len(part))
    return vectors


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
