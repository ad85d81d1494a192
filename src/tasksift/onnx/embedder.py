"""The index's embedder on ONNX: exported and checked with its query prompt when the index
is built, used by searches (and the task commands) without torch.

The export lives in the index (``INDEX/onnx/embedder/<key>``, see ``store``) and the
manifest records it (``index.manifest.OnnxEmbedderRecord``). ``open_index_embedder`` gives
the model that encodes texts in a role: the export (``OnnxEmbedder``) for queries, and for
documents wherever they are read as queries are (same prompt, no adapter); else
sentence-transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tasksift.index.manifest import Manifest, OnnxEmbedderRecord
from tasksift.onnx.check import PROBE_TEXTS, Check, Kind
from tasksift.onnx.fallback import onnx_or_torch
from tasksift.onnx.runtime import OnnxModel, OnnxUnavailable
from tasksift.onnx.store import export_key, open_export, remove_other_exports, save_export
from tasksift.prompts import PromptSet
from tasksift.vectors.embedder import Embedder, load_embedder
from tasksift.vectors.encoding import Role, encode_with_prompt, prompt_of

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from tasksift.vectors.embedder import SentenceTransformerEmbedder

EMBEDDER = Kind.EMBEDDER


class OnnxEmbedder:
    """Encodes with onnxruntime and the model's Rust tokenizer (no torch)."""

    def __init__(self, model: OnnxModel, check: Check) -> None:
        self._model = model
        self.dimension = len(check.expected)
        self.max_seq_length = check.settings.max_length

    @property
    def tokenizer(self) -> Tokenizer:
        return self._model.tokenizer

    def encode(
        self, texts: list[str], prompt: str, adapter: str | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """Unit vectors of ``prompt + text``; batches of similar length, so little padding."""
        if adapter is not None:
            raise OnnxUnavailable("adapter models (encode(task=...)) use torch")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return EMBEDDER.outputs(self._model.run([prompt + t for t in texts], batch_size))


def embedder_key(embedder: SentenceTransformerEmbedder, query_prompt: str) -> str:
    """What an index's export depends on: the weights, the query prompt, the max length."""
    return export_key(embedder.fingerprint, query_prompt, str(embedder.max_seq_length))


def export_embedder(
    embedder: SentenceTransformerEmbedder, prompts: PromptSet, index_dir: Path
) -> OnnxEmbedderRecord:
    """Export and check ``embedder`` with the query prompt into the index, or reuse its
    export; the record of it, or of why there is none."""
    from tasksift.onnx.export import ExportSpec  # searches do without it

    if prompts.query_adapter is not None:
        return OnnxEmbedderRecord(None, False, reason="adapter models (encode(task=...)) use torch")
    spec = ExportSpec(
        kind=EMBEDDER,
        model=embedder.model,
        output=lambda features: features["sentence_embedding"],
        probes=tuple(prompts.query + text for text in PROBE_TEXTS),
        reference=lambda: encode_with_prompt(embedder, prompts, Role.QUERY, PROBE_TEXTS),
        details={"prompt": prompts.query, "dimension": embedder.dimension},
    )
    try:
        folder, check = save_export(spec, index_dir, embedder_key(embedder, prompts.query))
    except OnnxUnavailable as exc:
        return OnnxEmbedderRecord(None, False, reason=str(exc))
    directory = folder.relative_to(index_dir).as_posix()
    return OnnxEmbedderRecord(directory, check.passed, check.agreement, check.probes, check.reason)


def open_onnx_embedder(index_dir: Path, record: OnnxEmbedderRecord | None) -> OnnxEmbedder:
    """The index's checked ONNX embedder, or OnnxUnavailable saying why not."""
    if record is None:
        raise OnnxUnavailable("the index was built without one")
    if not record.passed or record.directory is None:
        raise OnnxUnavailable(record.reason or "its check did not pass")
    return OnnxEmbedder(*open_export(index_dir / record.directory, EMBEDDER))


def remove_unused_exports(index_dir: Path, record: OnnxEmbedderRecord | None) -> None:
    """Drop the exports of earlier builds that the live manifest no longer names."""
    keep = index_dir / record.directory if record and record.directory else None
    remove_other_exports(index_dir, EMBEDDER, keep)


def open_index_embedder(
    index_dir: Path, manifest: Manifest, role: Role = Role.QUERY
) -> tuple[Embedder, str | None]:
    """The model that encodes texts in ``role`` as the index did: its checked ONNX export
    when the role reads texts as the export's check did (the query prompt, no adapter),
    else sentence-transformers; and a note for the user when the export was wanted but
    could not be used."""
    prompts = manifest.prompts
    if prompt_of(prompts, role) != prompt_of(prompts, Role.QUERY):
        return load_index_model(manifest), None

    def onnx() -> tuple[Embedder, None]:
        return open_onnx_embedder(index_dir, manifest.fast_path), None

    return onnx_or_torch(role.value, onnx, lambda: load_index_model(manifest))


def load_index_model(manifest: Manifest) -> Embedder:
    """The index's model on torch, checked to have the weights the index was built with."""
    return load_embedder(
        manifest.model.name,
        trust_remote_code=manifest.model.trust_remote_code,
        expected_fingerprint=manifest.model.fingerprint,
        adapter=manifest.adapter,
    )
