"""Locate a cross-encoder and open it: its ONNX export (``tasksift.onnx``), else torch."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tasksift.errors import ModelLoadError, first_line
from tasksift.onnx.fallback import onnx_or_torch
from tasksift.onnx.runtime import OnnxUnavailable
from tasksift.options import DEFAULT_RERANK_MODEL
from tasksift.vectors.embedder import quiet_transformers
from tasksift.vectors.models import ModelSource, loadable_target, locate_in_hub_cache

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder
    from tokenizers import Tokenizer
from tasksift.rerank.reranker import Reranker

TORCH_BATCH = 4  # pairs per sentence-transformers batch (small batches run fastest on CPU)


class TorchPairScorer:
    """Scores pairs with sentence-transformers' ``CrossEncoder``."""

    backend = "torch"

    def __init__(self, model: CrossEncoder) -> None:
        self._model = model
        self.max_length = int(model.max_seq_length)

    @property
    def tokenizer(self) -> Tokenizer | None:
        return getattr(self._model.tokenizer, "backend_tokenizer", None)

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        scores = self._model.predict(pairs, batch_size=TORCH_BATCH, show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs))


# ----------------------------------------------------------------- loading


def locate_reranker(name: str) -> ModelSource:
    """Where a cross-encoder's files are: a local folder or the Hub cache (or nowhere yet,
    when the Hub answers). Found before torch is imported, so that a missing one fails at
    once; a classifier with several outputs is refused as well."""
    local = Path(name).expanduser()
    source = (
        ModelSource(str(local.resolve()), local.resolve())
        if local.is_dir()
        else locate_in_hub_cache(name)
    )
    loadable_target(source, "reranker")
    if source.path is not None:
        _refuse_classifier(name, source.path)
    return source


def _refuse_classifier(name: str, folder: Path) -> None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # sentence-transformers says what is wrong when it loads it
    architecture = (config.get("architectures") or [""])[0]
    labels = len(config.get("id2label") or {}) or int(config.get("num_labels", 1) or 1)
    if architecture.endswith("ForSequenceClassification") and labels > 1:
        raise ModelLoadError(
            f"reranker {name!r} is a classifier with {labels} outputs; --rerank needs a "
            "cross-encoder that gives one relevance score per pair"
        )


def open_reranker(name: str = DEFAULT_RERANK_MODEL) -> tuple[Reranker, str | None]:
    """The cross-encoder ``name`` ready to score (its ONNX export, else torch), and a note
    for the user when it runs on torch or was just exported."""
    source = locate_reranker(name)
    model = functools.cache(lambda: _load_cross_encoder(name, source))

    def onnx() -> tuple[Reranker, str | None]:
        from tasksift.onnx.cross_encoder import open_onnx_scorer

        folder = source.path
        if folder is None:  # on the Hub only: sentence-transformers downloads it first
            model()
            folder = locate_in_hub_cache(name).path
            if folder is None:
                raise OnnxUnavailable("the downloaded model was not found in the cache")
        scorer, note = open_onnx_scorer(name, folder, model)
        return Reranker(scorer, name), note

    return onnx_or_torch("rerank", onnx, lambda: Reranker(TorchPairScorer(model()), name))


def _load_cross_encoder(name: str, source: ModelSource) -> CrossEncoder:
    target = str(source.path) if source.path is not None else source.name
    quiet_transformers()
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(target, device=None)
    except Exception as exc:
        detail = first_line(exc)
        raise ModelLoadError(
            f"cannot load reranker {name!r}: {detail}. Pass a local cross-encoder folder with "
            "--rerank-model, or download it where there is network"
        ) from exc


def load_reranker(name: str = DEFAULT_RERANK_MODEL) -> Reranker:
    """``open_reranker`` without its note."""
    return open_reranker(name)[0]
