"""Applying a plan to an index: one generation per commit, each complete and consistent.

The ``Writer`` drives the stores (``stores.ChunkRows``, ``stores.VectorSlots``,
``lexical.TermStore``) through removals, embedding and compaction, and commits their
state as a generation (``index.write_generation``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from tasksift.chunks import Chunk
from tasksift.documents import Document, reader_versions
from tasksift.errors import InputError
from tasksift.fastpath import FastPathRecord, remove_other_encoders
from tasksift.index import (
    LEXICAL_DIR,
    VECTORS_FILE,
    LoadedIndex,
    Manifest,
    generation_dir,
    write_generation,
)
from tasksift.lexical import Bm25Params, LexicalRecord, TermStore
from tasksift.pipeline.model import (
    OpenModel,
    embed_chunks,
    export_fast_path,
    open_index_model,
    open_new_model,
)
from tasksift.pipeline.plan import IndexOptions, Plan, Reporter
from tasksift.pipeline.stores import ChunkRows, VectorSlots

ANALYZE_SLICE = 1024  # stored chunks analyzed per progress step


class Writer:
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
        self.rows = ChunkRows(existing)
        self.slots = (
            VectorSlots(existing, existing.manifest.model.dimension, existing.manifest.hnsw)
            if existing
            else None
        )
        self.terms: TermStore | None = None

    def apply(self, plan: Plan) -> float:
        """Write the plan; the seconds spent embedding."""
        self.terms = self._term_store()
        self.rows.touch(plan.touched)
        if plan.removed:
            dropped = self.rows.drop(plan.removed)
            self.slots.delete(dropped)
            self.terms.drop(dropped)
        if not plan.to_embed:
            self._commit(complete=True)
            return 0.0
        model = self._model()
        chunks = self._chunk(model, plan.to_embed)
        self.reporter.stage("embedding chunks", sum(len(c) for c in chunks))
        embed_seconds = 0.0
        step = self._checkpoint_step(len(plan.to_embed))
        for start in range(0, len(plan.to_embed), step):
            documents = plan.to_embed[start : start + step]
            batch = [c for group in chunks[start : start + step] for c in group]
            began = time.perf_counter()
            vectors = embed_chunks(
                model.embedder, batch, model.prompts, self.options.batch_size, self.reporter
            )
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

    # -- the three stores

    def _term_store(self) -> TermStore:
        """The index's terms; an index without a lexical side gets one from its stored texts."""
        existing = self.existing
        record = LexicalRecord.from_dict(existing.manifest.lexical) if existing else None
        if record is not None:
            labels = existing.labels.tolist()
            return TermStore.load(existing.folder / LEXICAL_DIR, record, labels)
        from tasksift.analysis import Analyzer

        try:
            analyzer = Analyzer.for_language(self.options.language_or_default)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        store = TermStore(analyzer, Bm25Params())
        if existing is not None:  # analyze what is stored: nothing is embedded again
            labels = existing.labels.tolist()
            texts = existing.rows.column("text").to_pylist()
            self.reporter.stage("analyzing chunks", len(labels))
            for begin in range(0, len(labels), ANALYZE_SLICE):
                end = begin + ANALYZE_SLICE
                store.add(labels[begin:end], texts[begin:end])
                self.reporter.advance(len(labels[begin:end]))
        return store

    def _model(self) -> OpenModel:
        self.reporter.stage("loading model", None)
        if self.manifest is not None:
            model = open_index_model(self.manifest)
        else:
            model = open_new_model(self.options, self.corpus)
            self.manifest = model.manifest
            self.slots = VectorSlots(None, model.manifest.model.dimension, model.manifest.hnsw)
        self.manifest = export_fast_path(model, self.index_dir, self.manifest, self.reporter)
        return model

    def _chunk(self, model: OpenModel, documents: Sequence[Document]) -> list[list[Chunk]]:
        self.reporter.stage("chunking", len(documents))
        chunks = []
        for document in documents:
            chunks.append(model.chunker.chunk(document, model.config))
            self.reporter.advance(1)
        return chunks

    def _add(self, documents: Sequence[Document], chunks: Sequence[Chunk], vectors) -> None:
        labels = self.slots.add(vectors)
        source = self.corpus.name if self.corpus.is_file() else None
        self.rows.add(labels, chunks, documents, source)
        self.terms.add(labels, [chunk.text for chunk in chunks])
        self.embedded += len(chunks)

    # -- committing

    def _commit(self, complete: bool) -> None:
        if complete and self.slots is not None:
            renumbered = self.slots.compact_if_sparse(self.rows.labels)
            if renumbered is not None:
                self.reporter.stage("compacting", None)
                self.rows.relabel(renumbered)
                self.terms.relabel(renumbered)
        self.reporter.stage("writing index", None)
        table = self.rows.table()
        manifest = replace(
            self.manifest,
            documents=len(set(self.rows.columns["doc_id"])),
            chunks=table.num_rows,
            vectors_total=self.slots.next_label,
            complete=complete,
            readers=reader_versions(),
            created_at=datetime.now(timezone.utc).isoformat(),
        )
        graph = (
            self.slots.graph
            if self.slots.changed
            else generation_dir(self.index_dir) / VECTORS_FILE
        )
        self.manifest = write_generation(self.index_dir, manifest, table, graph, self.terms)
        if complete:
            record = FastPathRecord.from_dict(self.manifest.fast_path)
            remove_other_encoders(self.index_dir, record.directory if record else None)
