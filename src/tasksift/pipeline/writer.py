"""Applying a plan to an index: one generation per commit, each complete and consistent.

The ``Writer`` streams the plan's pending documents through an engine (``engine``) a
batch at a time, and drives the stores (``stores.ChunkParts``, ``stores.VectorSlots``,
``lexical.TermStore``) through removals, additions and compaction; it commits their state
as a generation (``index.write_generation``). Memory holds a batch, the graph and the
labels, never the corpus: rows go to sidecar parts as they are made.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from tasksift.documents import reader_versions
from tasksift.documents.isolated import Reading
from tasksift.errors import IndexWriteError, InputError, NoDocumentsError
from tasksift.index.generations import PENDING_PREFIX, generation_dir, write_generation
from tasksift.index.hnsw_file import VECTORS_FILE
from tasksift.index.manifest import FORMAT_VERSION, Manifest
from tasksift.index.reader import LoadedIndex
from tasksift.index.sidecar import Sidecar, read_terms
from tasksift.lexical.record import LEXICAL_DIR, Bm25Params, LexicalRecord, engine_name
from tasksift.lexical.terms import TermStore, legacy_terms
from tasksift.onnx.embedder import remove_unused_exports
from tasksift.pipeline.engine import EmbeddedBatch, Engine, LocalEngine
from tasksift.pipeline.model import OpenModel, open_index_model, open_new_model, with_onnx_embedder
from tasksift.pipeline.plan import IndexOptions, Plan, Reporter, nothing_to_index
from tasksift.pipeline.stores import ChunkParts, VectorSlots
from tasksift.vectors.adapters import AdapterRecord


class Writer:
    """Applies a plan to the index: one generation per checkpoint of new documents."""

    def __init__(
        self,
        corpus: Path,
        index_dir: Path,
        options: IndexOptions,
        existing: LoadedIndex | None,
        reporter: Reporter,
        reading: Reading,
        engine: Engine | None = None,
        adapter: AdapterRecord | None = None,
    ) -> None:
        self.corpus = corpus
        self.adapter = adapter  # the record of options.adapter, for a new index
        self.index_dir = index_dir
        self.options = options
        self.existing = existing
        self.reporter = reporter
        self.reading = reading
        self.engine = engine or LocalEngine()
        self.embedded = 0
        self.added_documents = 0
        self.checkpoint_seconds = 0.0
        self.manifest: Manifest | None = existing.manifest if existing else None
        self.pending = index_dir / f"{PENDING_PREFIX}{os.getpid()}"
        self.parts = ChunkParts(existing, self.pending)
        self.slots = (
            VectorSlots(existing, existing.manifest.model.dimension, existing.manifest.hnsw)
            if existing
            else None
        )
        self.terms: TermStore | None = None

    def apply(self, plan: Plan) -> float:
        """Write the plan; the seconds spent reading, chunking and embedding."""
        try:
            return self._apply(plan)
        except OSError as exc:  # writing a part: the live generation was not touched
            raise IndexWriteError(
                f"cannot write index {self.index_dir}: {exc.strerror or exc}; the previous "
                "index, if any, is unchanged"
            ) from None
        finally:
            shutil.rmtree(self.pending, ignore_errors=True)

    def _apply(self, plan: Plan) -> float:
        self.terms = self._term_store()
        self.parts.touch(plan.touched)
        if plan.removed:
            self.slots.delete(self.parts.drop(plan.removed))
        if not plan.pending:
            self._commit(complete=True)
            return 0.0
        model = self._model()
        began = last_commit = time.perf_counter()
        done = 0
        self.reporter.run(len(plan.pending), plan.pending.total_bytes)
        batches = self.engine.batches(
            plan.pending, model, max(1, self.options.checkpoint_documents),
            self.options.batch_chunks, self.options.batch_size, self.reading,
            self.reporter,
        )  # fmt: skip
        for batch in batches:
            self._add(batch, plan)
            done += batch.read
            self.reporter.documents(batch.read, batch.bytes)
            if self._checkpoint_due(done, len(plan.pending), last_commit):
                self._commit(complete=False)
                last_commit = time.perf_counter()
        seconds = time.perf_counter() - began
        self._commit(complete=True)
        return seconds

    def _checkpoint_due(self, done: int, total: int, last_commit: float) -> bool:
        """Checkpoints while no complete state exists yet, at most every
        ``checkpoint_seconds`` of work (so that a fast run does not spend its time
        committing, and a killed one loses little).

        An update of a complete index commits once, at the end, so that the index is
        always the previous complete state or the new one.
        """
        if done >= total or (self.existing is not None and self.existing.manifest.complete):
            return False
        return time.perf_counter() - last_commit >= self.options.checkpoint_seconds

    # -- the stores

    def _term_store(self) -> TermStore:
        """The index's vocabulary; a new one for a new index or one without a lexical side."""
        existing = self.existing
        record = existing.manifest.lexical if existing else None
        if record is not None:
            store = TermStore.load(existing.folder / LEXICAL_DIR, record)
        else:
            from tasksift.lexical.analyzer import Analyzer

            try:
                analyzer = Analyzer.for_language(self.options.language_or_default)
            except ValueError as exc:
                raise InputError(str(exc)) from None
            store = TermStore(analyzer, Bm25Params())
        if existing is not None and existing.manifest.parts is None:
            self._migrate(existing, store, record)
        return store

    def _migrate(
        self, existing: LoadedIndex, store: TermStore, record: LexicalRecord | None
    ) -> None:
        """Move a format 1 index into parts, its terms read (or analyzed) once."""
        if record is not None:
            flat = legacy_terms(existing.folder / LEXICAL_DIR)
            offsets = flat.offsets
            terms = [flat.ids[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
        else:
            texts = existing.column("text").to_pylist()
            self.reporter.stage("analyzing chunks", len(texts))
            terms = store.analyze(texts)
            self.reporter.advance(len(texts))
        self.parts.migrate(existing, terms, existing.manifest)

    def _model(self) -> OpenModel:
        self.reporter.stage("loading model", None)
        if self.manifest is not None:
            model = open_index_model(self.manifest)
        else:
            model = open_new_model(self.options, self.corpus, self.adapter)
            self.manifest = model.manifest
            self.slots = VectorSlots(None, model.manifest.model.dimension, model.manifest.hnsw)
        self.manifest = with_onnx_embedder(model, self.index_dir, self.manifest, self.reporter)
        return model

    def _add(self, batch: EmbeddedBatch, plan: Plan) -> None:
        labels = self.slots.add(batch.vectors)
        source = self.corpus.name if self.corpus.is_file() else None
        terms = self.terms.analyze(chunk.text for chunk in batch.chunks)
        self.parts.add(labels, batch.chunks, batch.documents, terms, source, self._part_manifest())
        self.embedded += len(batch.chunks)
        self.added_documents += sum(1 for d in batch.documents if d.doc_id not in plan.removed)

    def _part_manifest(self, manifest: Manifest | None = None) -> Manifest:
        """The manifest a new part records: the index's, with the analyzer its terms need."""
        partial = LexicalRecord(self.terms.analyzer, self.terms.params, engine_name(), matrix=False)
        return replace(manifest or self.manifest, lexical=partial)

    # -- committing

    def _commit(self, complete: bool) -> None:
        began = time.perf_counter()
        self.reporter.status("compacting" if complete else "checkpoint")
        if self.existing is None and not len(self.parts):
            raise NoDocumentsError(nothing_to_index(self.corpus, self.reading.report))
        if complete and self.slots is not None:
            renumbered = self.slots.compact_if_sparse(self.parts.live)
            if renumbered is not None:
                self.parts.relabel(renumbered)
        manifest = replace(
            self.manifest,
            documents=self.parts.documents,
            chunks=len(self.parts),
            vectors_total=self.slots.next_label,
            complete=complete,
            readers=reader_versions(),
            created_at=datetime.now(timezone.utc).isoformat(),
            format_version=FORMAT_VERSION,
        )
        self.reporter.status("writing index" if complete else "checkpoint")
        parts = self.parts.staged(self._part_manifest(manifest))
        graph = None
        if complete:
            graph = self.slots.save_and_release if self.slots.changed else self._previous_graph()
        self.manifest = write_generation(
            self.index_dir, manifest, parts, graph,
            lexical=self._lexical_writer(complete), part_vectors=self.slots.vectors_of(),
        )  # fmt: skip
        self.parts.rebase(generation_dir(self.index_dir))
        if complete:
            remove_unused_exports(self.index_dir, self.manifest.fast_path)
        self.reporter.status(None)
        self.checkpoint_seconds += time.perf_counter() - began

    def _previous_graph(self) -> Path | Callable[[Path], None]:
        """The live graph file, reused as it is (built from the parts if a checkpoint)."""
        path = generation_dir(self.index_dir) / VECTORS_FILE
        return path if path.is_file() else self.slots.save_and_release

    def _lexical_writer(self, complete: bool) -> Callable[[Path, Sidecar], LexicalRecord]:
        terms = self.terms

        def write(folder: Path, sidecar: Sidecar) -> LexicalRecord:
            if complete:
                self.reporter.status("building lexical index")
            lists = read_terms(sidecar.parquet_files()) if complete else None
            return terms.write(folder, lists)

        return write
