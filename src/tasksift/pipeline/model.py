"""The model side of indexing: open the embedder (the index's, or a new one with its
manifest), export it to ONNX, and embed chunks with the document prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tasksift.chunks import Chunk, Chunker
from tasksift.errors import InputError
from tasksift.index.manifest import Manifest, ModelInfo
from tasksift.onnx.embedder import export_embedder, load_index_model
from tasksift.options import AdaptiveRule, ChunkingConfig
from tasksift.pipeline.plan import IndexOptions, Reporter
from tasksift.prompts import (
    PromptSet,
    Task,
    TaskPrompts,
    config_prompts,
    find_profile,
    resolve_prompts,
)
from tasksift.vectors.adapters import AdapterRecord, shipped_adapters
from tasksift.vectors.embedder import Embedder, SentenceTransformerEmbedder, load_embedder
from tasksift.vectors.encoding import Role, encode_with_prompt
from tasksift.vectors.models import DEFAULT_MODEL, locate_model

DEFAULT_OVERLAP = 32
EMBED_SLICE = 128  # chunks per progress step; sorted by length so padding stays small


@dataclass(frozen=True)
class OpenModel:
    """An embedder with the prompts and chunking an index uses it with."""

    embedder: Embedder
    prompts: PromptSet
    chunker: Chunker
    config: ChunkingConfig
    manifest: Manifest


def open_index_model(manifest: Manifest) -> OpenModel:
    """The model of an existing index, checked to have the weights it was built with."""
    embedder = load_index_model(manifest)
    chunker = Chunker(embedder.tokenizer, embedder.max_seq_length, manifest.prompts.document)
    config = manifest.chunking
    return OpenModel(embedder, manifest.prompts, chunker, config, manifest)


def open_new_model(
    options: IndexOptions, corpus: Path, adapter: AdapterRecord | None = None
) -> OpenModel:
    """The model a new index asks for, with ``adapter`` (the record of ``options.adapter``,
    read once by the caller), and the manifest that records it."""
    task = options.task or Task.RETRIEVAL
    _check_task_adapters(options.model or DEFAULT_MODEL, options.profile, task)
    embedder = load_embedder(
        options.model or DEFAULT_MODEL,
        trust_remote_code=options.trust_remote_code,
        adapter=adapter,
    )
    prompts = resolve_prompts(
        embedder.name,
        task,
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
    manifest = Manifest(
        model=ModelInfo(
            name=embedder.name,
            path=str(embedder.source.path) if embedder.source.path else None,
            revision=embedder.source.revision,
            fingerprint=embedder.weights_fingerprint,
            dimension=embedder.dimension,
            max_seq_length=embedder.max_seq_length,
            trust_remote_code=options.trust_remote_code,
        ),
        task=task,
        prompts=prompts,
        chunking=config,
        hnsw=options.hnsw,
        documents=0,
        chunks=0,
        corpus_root=str(corpus.resolve()),
        fusion=AdaptiveRule(),
        adapter=adapter,
    )
    return OpenModel(embedder, prompts, chunker, config, manifest)


def _check_task_adapters(model: str, profile: str | None, task: Task) -> None:
    """Refuse, before the model loads, a task whose profile names an adapter the model does
    not ship (when it ships any)."""
    source = locate_model(model)
    shipped = shipped_adapters(source.path)
    found = find_profile(source.name, profile)
    fixed = found.tasks.get(task, TaskPrompts()) if found else TaskPrompts()
    named = {fixed.query_adapter, fixed.document_adapter} - {None}
    if shipped and not named <= shipped.keys():
        missing = ", ".join(sorted(str(n) for n in named - shipped.keys()))
        raise InputError(
            f"model {source.name} ships task adapters {', '.join(sorted(shipped))}, but "
            f"task {task.value} uses {missing}; index it for a task it has an adapter for "
            "(--task)"
        )


def with_onnx_embedder(
    model: OpenModel, index_dir: Path, manifest: Manifest, reporter: Reporter
) -> Manifest:
    """Give the index its checked ONNX embedder (see ``onnx.embedder``), when possible."""
    if not isinstance(model.embedder, SentenceTransformerEmbedder):
        return manifest
    reporter.stage("exporting the embedder to ONNX", None)
    record = export_embedder(model.embedder, model.prompts, index_dir)
    if not record.passed:
        reporter.warn(f"no fast query path for this model: {record.reason}")
    return replace(manifest, fast_path=record)


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
        texts = [chunks[i].text for i in part]
        vectors[part] = encode_with_prompt(embedder, prompts, Role.DOCUMENT, texts, batch_size)
        reporter.advance(len(part))
    return vectors
