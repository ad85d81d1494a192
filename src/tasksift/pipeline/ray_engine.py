"""Reading, chunking and embedding on a Ray cluster: ``tasksift index --engine ray``.

A Ray Data pipeline over the pending documents: tasks read and chunk them (with the
driver's chunker, so chunks are the ones a local run makes), then a pool of actors, each
holding the index's model (loaded from the manifest and checked against its weights
fingerprint, one GPU each where the cluster has GPUs), embeds the chunks. The driver
receives the rows in pending order and hands them to the writer, which builds the graph
and commits generations as for a local run.

A folder corpus is read by the workers themselves, so it must be at the same path on
every node (a shared file system); a JSON Lines corpus is read by the driver and its
documents go to the workers through the object store. Every node needs tasksift with
its ``ray`` extra and the model. Ray is imported only here, inside functions.

Workers read files as a local run does (``documents.isolated.Reading``: a worker process
under the per-file limits), so a reader that fails, hangs or crashes fails its file alone.
Rows carry pickled documents and chunks, what the workers' reading reported (skips,
failures, warnings: merged by the driver, where ``--strict`` raises), and any
``TasksiftError`` a worker hit (Ray does not keep an exception's type across processes).
"""

from __future__ import annotations

import functools
import logging
import pickle
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from tasksift.chunks import Chunker
from tasksift.documents import Document, ReadReport
from tasksift.documents.isolated import Reading
from tasksift.errors import InputError, TasksiftError, UsageError, first_line
from tasksift.options import ChunkingConfig, ReadingOptions
from tasksift.pipeline.engine import EmbeddedBatch
from tasksift.pipeline.model import OpenModel
from tasksift.pipeline.plan import Pending, Reporter, SilentReporter

if TYPE_CHECKING:
    from ray import ObjectRef
    from ray.data import Dataset

INSTALL_HINT = "the ray engine needs `pip install tasksift[ray]`"
READ_DOCUMENTS = 32  # documents per read-and-chunk task
EMBED_DOCUMENTS = 64  # documents per call of an embedding actor
CPUS_PER_ACTOR = 4  # torch threads of an embedding actor on a cluster without GPUs

ROWS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("document", pa.binary()),  # pickled Document; null when skipped (or not read yet)
        ("chunks", pa.binary()),  # pickled list[Chunk]
        ("report", pa.binary()),  # pickled ReadReport of reading (a task's, on one row)
        ("error", pa.binary()),  # a pickled TasksiftError a worker hit
    ]
)


class RayEngine:
    """An :class:`~tasksift.pipeline.engine.Engine` on a Ray cluster: the local machine's
    (``address`` None: started for the run, unless this process already joined one) or
    the one at ``address`` (``auto``, ``HOST:6379``, ``ray://HOST:10001``)."""

    def __init__(self, address: str | None = None, num_actors: int | None = None) -> None:
        _ray()  # refuse at once when Ray is missing, before any model is loaded
        self.address = address
        self.num_actors = num_actors

    def batches(
        self,
        pending: Pending,
        model: OpenModel,
        batch_documents: int,
        batch_chunks: int,
        batch_size: int,
        reading: Reading,
        reporter: Reporter,
    ) -> Iterator[EmbeddedBatch]:
        """The pending documents in pending order, in batches of at most
        ``batch_documents`` (and about ``batch_chunks``: tables of ``EMBED_DOCUMENTS``
        rows at most are joined up to it)."""
        started = _connect(self.address)
        try:
            sizes = dict(zip(pending.ids, pending.sizes, strict=True))
            dimension = model.manifest.model.dimension
            dataset = self._pipeline(pending, model, batch_size, reading, reporter)
            if dataset is None:
                return
            rows = min(batch_documents, EMBED_DOCUMENTS)
            tables = dataset.iter_batches(batch_size=rows, batch_format="pyarrow")
            joined: list[EmbeddedBatch] = []
            for number, table in enumerate(tables):
                if number == 0:
                    reporter.status(None)
                joined.append(_assemble(table, dimension, sizes, reading.report, reporter))
                if _full(joined, batch_documents, batch_chunks):
                    yield _joined(joined)
                    joined = []
            if joined:
                yield _joined(joined)
        finally:
            if started:
                _ray().shutdown()

    def _pipeline(
        self,
        pending: Pending,
        model: OpenModel,
        batch_size: int,
        reading: Reading,
        reporter: Reporter,
    ) -> Dataset | None:
        """Read and chunk (tasks), then embed (an actor pool); None when nothing is pending."""
        ray = _ray()
        refs = [ray.put(table) for table in pending_tables(pending, reading)]
        if not refs:
            return None
        actors, cpus, gpus = _pool(self.num_actors)
        reporter.status(f"starting {actors} Ray embedding worker(s)")
        dataset = ray.data.from_arrow_refs(refs)
        dataset.context.execution_options.preserve_order = True  # this dataset's own copy
        dataset.context.enable_progress_bars = False  # the reporter shows progress
        chunked = dataset.map_batches(
            _read_and_chunk,
            batch_size=READ_DOCUMENTS,
            batch_format="pyarrow",
            fn_kwargs={
                "corpus": None if pending.is_jsonl else str(pending.corpus.resolve()),
                "chunking": ray.put((model.chunker, model.config)),  # shipped once
                "options": reading.options,
            },
            num_cpus=1,
        )
        return chunked.map_batches(
            _EmbeddingActor,
            batch_size=EMBED_DOCUMENTS,
            batch_format="pyarrow",
            fn_constructor_kwargs={
                "manifest": model.manifest.to_json(),
                "batch_size": batch_size,
                "threads": 0 if gpus else cpus,
            },
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=cpus,
            num_gpus=gpus,
        )


# -- the driver


def _ray() -> ModuleType:
    try:
        import ray
        import ray.data
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # failures come as errors
    return ray


def _connect(address: str | None) -> bool:
    """Join the cluster unless this process already has; whether it started Ray."""
    ray = _ray()
    if ray.is_initialized():
        return False
    options: dict[str, object] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "on this machine"
        raise InputError(
            f"cannot start or reach a Ray cluster {where}: {first_line(exc)}"
        ) from None
    return True


def _pool(num_actors: int | None) -> tuple[int, int, int]:
    """Embedding actors, and the CPUs and GPUs of each: one GPU an actor where the cluster
    has GPUs; else a quarter of the CPUs is left to reading and chunking."""
    resources = _ray().cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return min(num_actors or gpus, gpus), 1, 1
    cpus = int(resources.get("CPU", 1))
    embedding = max(1, cpus - max(1, cpus // 4))
    per_actor = min(CPUS_PER_ACTOR, embedding)
    if num_actors:
        return num_actors, max(1, min(per_actor, embedding // num_actors)), 0
    return max(1, embedding // per_actor), per_actor, 0


def pending_tables(pending: Pending, reading: Reading) -> Iterator[pa.Table]:
    """The pending documents as tables of ``READ_DOCUMENTS`` rows: ids for a folder
    corpus (the workers read the files), documents read here for a JSON Lines one."""
    if not pending.is_jsonl:
        for begin in range(0, len(pending.ids), READ_DOCUMENTS):
            yield _rows(pending.ids[begin : begin + READ_DOCUMENTS])
        return
    taken: list[Document] = []
    for _, document in pending.read(reading):
        if document is not None:
            taken.append(document)
        if len(taken) == READ_DOCUMENTS:
            yield _rows([d.doc_id for d in taken], documents=[pickle.dumps(d) for d in taken])
            taken = []
    if taken:
        yield _rows([d.doc_id for d in taken], documents=[pickle.dumps(d) for d in taken])


def _assemble(
    table: pa.Table,
    dimension: int,
    sizes: dict[str, int],
    report: ReadReport,
    reporter: Reporter,
) -> EmbeddedBatch:
    """One batch for the writer from the workers' rows; their skips go into ``report``."""
    columns = table.to_pydict()
    error = next((e for e in columns["error"] if e is not None), None)
    if error is not None:
        raise pickle.loads(error)
    for seen in columns["report"]:
        if seen is not None:
            report.merge(pickle.loads(seen))  # strict: raises at a worker's failure
    documents = [pickle.loads(d) for d in columns["document"] if d is not None]
    chunks = [c for data in columns["chunks"] if data is not None for c in pickle.loads(data)]
    parts = [np.frombuffer(v, np.float32) for v in columns["vectors"] if v is not None]
    vectors = np.concatenate(parts or [np.zeros(0, np.float32)]).reshape(-1, dimension)
    if len(vectors) != len(chunks):
        raise RuntimeError(f"the Ray workers returned {len(vectors)} vectors for {len(chunks)}")
    reporter.advance(len(chunks))
    read = sum(sizes.get(doc_id, 0) for doc_id in columns["doc_id"])
    return EmbeddedBatch(documents, chunks, vectors, len(columns["doc_id"]), read)


def _full(batches: list[EmbeddedBatch], documents: int, chunks: int) -> bool:
    """Whether joined batches reach a batch's bound of documents or of chunks."""
    read = sum(b.read for b in batches)
    return read >= documents or sum(len(b.chunks) for b in batches) >= chunks


def _joined(batches: list[EmbeddedBatch]) -> EmbeddedBatch:
    if len(batches) == 1:
        return batches[0]
    return EmbeddedBatch(
        [d for b in batches for d in b.documents],
        [c for b in batches for c in b.chunks],
        np.concatenate([b.vectors for b in batches]),
        sum(b.read for b in batches),
        sum(b.bytes for b in batches),
    )


# -- the workers


def _rows(
    doc_ids: list[str] | tuple[str, ...],
    documents: list[bytes | None] | None = None,
    chunks: list[bytes | None] | None = None,
    report: ReadReport | None = None,
    error: TasksiftError | None = None,
) -> pa.Table:
    """Rows of ``ROWS``: every column but ``doc_id`` may be left out (null); ``report``
    goes on the first row."""
    count = len(doc_ids)
    failed = pickle.dumps(error) if error is not None else None
    reports: list[bytes | None] = [None] * count
    if report is not None and count:
        reports[0] = pickle.dumps(report)
    columns = {
        "doc_id": list(doc_ids),
        "document": documents or [None] * count,
        "chunks": chunks or [None] * count,
        "report": reports,
        "error": [failed] * count,
    }
    return pa.table(columns, schema=ROWS)


def _read_and_chunk(
    batch: pa.Table, corpus: str | None, chunking: ObjectRef, options: ReadingOptions
) -> pa.Table:
    """Read (a folder corpus's files, or the driver's documents) and chunk each row."""
    chunker, config = _chunking(chunking)
    doc_ids = batch.column("doc_id").to_pylist()
    try:
        root = _visible_corpus(corpus)
    except TasksiftError as exc:
        return _rows(doc_ids, error=exc)
    report = ReadReport()
    given = batch.column("document").to_pylist()
    if root is not None:
        reading = _reading(root, options)
        reading.report = report  # this task's
        try:
            read = [d for _, d in reading.documents(doc_ids)]
        except TasksiftError as exc:
            return _rows(doc_ids, error=exc)
    else:
        read = [pickle.loads(data) if data is not None else None for data in given]
    documents = [pickle.dumps(d) if d is not None else None for d in read]
    chunks = [pickle.dumps(chunker.chunk(d, config)) if d is not None else None for d in read]
    return _rows(doc_ids, documents, chunks, report)


@functools.lru_cache(maxsize=4)
def _reading(root: Path, options: ReadingOptions) -> Reading:
    """This worker process's reading of the corpus, its worker process kept between tasks."""
    return Reading(root, options, ReadReport())


@functools.lru_cache(maxsize=4)
def _chunking(ref: ObjectRef) -> tuple[Chunker, ChunkingConfig]:
    """The driver's chunker and chunking settings, fetched once per worker process."""
    return _ray().get(ref)


def _visible_corpus(corpus: str | None) -> Path | None:
    """The corpus folder, which must be at the driver's path on this node too."""
    if corpus is None:
        return None
    root = Path(corpus)
    if not root.is_dir():
        raise InputError(
            f"a Ray worker on {socket.gethostname()} cannot see the corpus folder {corpus}: "
            "the workers read the documents themselves, so the corpus must be at the same "
            "path on every node (a shared file system)"
        )
    return root


class _EmbeddingActor:
    """Holds the index's model (loaded from its manifest) and embeds rows' chunks."""

    def __init__(self, manifest: str, batch_size: int, threads: int) -> None:
        self.batch_size = batch_size
        self.error: TasksiftError | None = None
        try:
            self.model = _open_model(manifest, threads)
        except TasksiftError as exc:  # reported with the rows, not as Ray's actor failure
            self.error = exc

    def __call__(self, batch: pa.Table) -> pa.Table:
        from tasksift.pipeline.model import embed_chunks

        if self.error is not None:
            failed = _rows(batch.column("doc_id").to_pylist(), error=self.error)
            return failed.append_column("vectors", pa.nulls(len(batch), pa.binary()))
        lists = [pickle.loads(c) if c is not None else None for c in batch["chunks"].to_pylist()]
        flat = [c for chunks in lists if chunks for c in chunks]
        model = self.model
        matrix = embed_chunks(
            model.embedder, flat, model.prompts, self.batch_size, SilentReporter()
        )
        vectors: list[bytes | None] = []
        begin = 0
        for chunks in lists:
            count = len(chunks) if chunks is not None else 0
            vectors.append(matrix[begin : begin + count].tobytes() if chunks is not None else None)
            begin += count
        return batch.append_column("vectors", pa.array(vectors, pa.binary()))


def _open_model(manifest: str, threads: int) -> OpenModel:
    """The index's model on this worker: on its GPU when Ray gave it one (the embedder
    picks CUDA when it is visible), else on ``threads`` CPU threads."""
    from tasksift.index.manifest import Manifest
    from tasksift.pipeline.model import open_index_model

    if threads:
        import torch

        torch.set_num_threads(threads)
    return open_index_model(Manifest.from_json(manifest))
