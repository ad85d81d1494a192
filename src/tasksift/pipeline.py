"""The indexing pipeline: documents -> chunks -> prompts -> vectors -> index.

``build_index`` runs the stages in order and reports progress through a small
:class:`Reporter`; it never prints. The corpus is read (and an empty one refused) before
any model is loaded, and the index is written only once everything else has succeeded.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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
from tasksift.errors import IndexLockedError, InputError, NoDocumentsError
from tasksift.index import (
    CHUNK_COLUMNS,
    HnswParams,
    Manifest,
    ModelInfo,
    build_graph,
    write_generation,
)
from tasksift.prompts import PromptSet, Task, resolve_prompts
from tasksift.vectors import DEFAULT_MODEL, Embedder, config_prompts, load_embedder

DEFAULT_OVERLAP = 32
EMBED_SLICE = 128  # chunks per progress step; sorted by length so padding stays small
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
    model: str = DEFAULT_MODEL
    task: Task = Task.RETRIEVAL
    query_prompt: str | None = None
    document_prompt: str | None = None
    instruction: str | None = None
    profile: str | None = None
    chunk_tokens: int | None = None  # None: as many as fit the model after the prompt
    overlap: int = DEFAULT_OVERLAP
    trust_remote_code: bool = False
    batch_size: int = 32
    hnsw: HnswParams = field(default_factory=HnswParams)


@dataclass(frozen=True)
class IndexSummary:
    index_dir: Path
    documents: int
    chunks: int
    skipped: int
    seconds: float
    embed_seconds: float

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.embed_seconds if self.embed_seconds > 0 else 0.0


def build_index(
    corpus: Path,
    index_dir: Path,
    options: IndexOptions,
    reporter: Reporter | None = None,
) -> IndexSummary:
    """Index every text document under ``corpus`` into ``index_dir``."""
    reporter = reporter or SilentReporter()
    began = time.perf_counter()
    report = ReadReport()
    documents = _read_corpus(corpus, index_dir, report, reporter)
    for warning in report.warnings:
        reporter.warn(warning)
    if not documents:
        raise NoDocumentsError(_nothing_to_index(corpus, report))

    with _writer_lock(index_dir):
        reporter.stage("loading model", None)
        embedder = load_embedder(options.model, trust_remote_code=options.trust_remote_code)
        prompts = resolve_prompts(
            embedder.name,
            options.task,
            getattr(embedder, "prompts", None) or config_prompts(embedder.source.path),
            profile_name=options.profile,
            query_prompt=options.query_prompt,
            document_prompt=options.document_prompt,
            instruction=options.instruction,
        )
        chunker = Chunker(embedder.tokenizer, embedder.max_seq_length, prompts.document)
        config = _chunking_config(options, chunker)
        chunks = _chunk_corpus(chunker, documents, config, reporter)
        embed_began = time.perf_counter()
        vectors = embed_chunks(embedder, chunks, prompts, options.batch_size, reporter)
        embed_seconds = time.perf_counter() - embed_began
        reporter.stage("writing index", None)
        graph = build_graph(vectors, options.hnsw)
        manifest = Manifest(
            model=ModelInfo(
                name=embedder.name,
                path=str(embedder.source.path) if embedder.source.path else None,
                revision=embedder.source.revision,
                fingerprint=embedder.fingerprint,
                dimension=embedder.dimension,
                max_seq_length=embedder.max_seq_length,
                trust_remote_code=options.trust_remote_code,
            ),
            task=options.task,
            prompts=prompts,
            chunking={
                "chunk_tokens": min(config.chunk_tokens, chunker.budget),
                "overlap": config.overlap,
            },
            hnsw=options.hnsw,
            documents=len(documents),
            chunks=len(chunks),
            corpus_root=str(corpus.resolve()),
        )
        source = corpus.name if corpus.is_file() else None
        write_generation(index_dir, manifest, _rows(documents, chunks, source), graph)
    return IndexSummary(
        index_dir=index_dir,
        documents=len(documents),
        chunks=len(chunks),
        skipped=report.skipped,
        seconds=time.perf_counter() - began,
        embed_seconds=embed_seconds,
    )


def _read_corpus(
    corpus: Path, index_dir: Path, report: ReadReport, reporter: Reporter
) -> list[Document]:
    """All documents of a corpus folder or JSON Lines file, before any model is loaded."""
    if not corpus.exists():
        raise InputError(f"corpus not found: {corpus}")
    if corpus.is_file() and is_jsonl_corpus(corpus):
        reporter.stage("reading corpus", None)
        documents = []
        for document in read_jsonl_corpus(corpus, report):
            documents.append(document)
            reporter.advance(1)
        return documents
    if not corpus.is_dir():
        raise InputError(f"not a directory or a .jsonl/.jsonl.gz corpus: {corpus}")
    files = list(iter_text_files(corpus, exclude=(index_dir,)))
    reporter.stage("reading files", len(files))
    documents = []
    for path in files:
        document = read_document(path, corpus, report)
        if document is not None:
            documents.append(document)
        reporter.advance(1)
    return documents


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


def _chunking_config(options: IndexOptions, chunker: Chunker) -> ChunkingConfig:
    size = options.chunk_tokens if options.chunk_tokens is not None else chunker.budget
    try:
        return ChunkingConfig(chunk_tokens=min(size, chunker.budget), overlap=options.overlap)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _chunk_corpus(
    chunker: Chunker, documents: Sequence[Document], config: ChunkingConfig, reporter: Reporter
) -> list[Chunk]:
    reporter.stage("chunking", len(documents))
    chunks: list[Chunk] = []
    for document in documents:
        chunks.extend(chunker.chunk(document, config))
        reporter.advance(1)
    return chunks


def embed_chunks(
    embedder: Embedder,
    chunks: Sequence[Chunk],
    prompts: PromptSet,
    batch_size: int,
    reporter: Reporter,
) -> np.ndarray:
    """Vectors of ``document prompt + chunk text``, in the order of ``chunks``."""
    reporter.stage("embedding chunks", len(chunks))
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


def _rows(
    documents: Sequence[Document], chunks: Sequence[Chunk], source_path: str | None
) -> dict[str, list]:
    """Sidecar columns; ``source_path`` is the corpus file when documents are its lines."""
    by_id = {d.doc_id: d for d in documents}
    digests = {d.doc_id: hashlib.sha256(d.text.encode()).hexdigest() for d in documents}
    rows: dict[str, list] = {name: [] for name in CHUNK_COLUMNS}
    for label, chunk in enumerate(chunks):
        document = by_id[chunk.doc_id]
        rows["label"].append(label)
        rows["doc_id"].append(chunk.doc_id)
        rows["path"].append(source_path or chunk.doc_id)
        rows["ordinal"].append(chunk.ordinal)
        rows["start"].append(chunk.start)
        rows["end"].append(chunk.end)
        rows["text"].append(chunk.text)
        rows["doc_sha256"].append(digests[chunk.doc_id])
        rows["doc_size"].append(document.size)
        rows["doc_mtime_ns"].append(document.mtime_ns)
    return rows


@contextmanager
def _writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's writer lock; a second writer is refused at once.

    The lock is an OS file lock, released when its process ends, so a crashed run never
    leaves it stuck. An index folder this run created is removed again if the run fails.
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
        if created:
            shutil.rmtree(index_dir, ignore_errors=True)
        raise
    finally:
        lock.release()
