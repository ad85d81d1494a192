"""Split from tasksift.rerank_old: TODO."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tasksift.errors import ModelLoadError, first_line
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
    """The cross-encoder ``name`` ready to score, and a note for the user when it runs on
    torch or was just exported."""
    source = locate_reranker(name)
    if os.environ.get("TASKSIFT_FAST_PATH", "1") == "0":
        note = "reranking with sentence-transformers (TASKSIFT_FAST_PATH=0)"
        return Reranker(TorchPairScorer(_load_cross_encoder(name, source)), name), note
    from tasksift.onnx.cross_encoder import (
        NotExported,
        export_folder,
        load_fast_scorer,
        remove_export,
    )
    from tasksift.onnx.runtime import FastPathUnavailable

    if source.path is None:  # on the Hub only: sentence-transformers downloads it first
        model = _load_cross_encoder(name, source)
        source = locate_in_hub_cache(name)
        if source.path is None:
            return _on_torch(model, name, "the downloaded model was not found in the cache")
        return _first_use(model, name, source.path)
    folder = export_folder(source.path)
    try:
        return Reranker(load_fast_scorer(folder), name), None
    except NotExported:
        return _first_use(_load_cross_encoder(name, source), name, source.path)
    except FastPathUnavailable as exc:
        from tasksift.onnx.runtime import DamagedExport

        damaged = isinstance(exc, DamagedExport)
        if damaged:
            remove_export(folder)
        model = _load_cross_encoder(name, source)
        return _on_torch(model, name, str(exc), "it is exported again next time" if damaged else "")


def _first_use(model: CrossEncoder, name: str, folder: Path) -> tuple[Reranker, str | None]:
    """Export ``model`` to the cache and use the export, else the model itself."""
    from tasksift.onnx.cross_encoder import export_folder, export_reranker, load_fast_scorer
    from tasksift.onnx.runtime import FastPathUnavailable

    began = time.perf_counter()
    try:
        target = export_folder(folder)
        export_reranker(model, target)
        scorer = load_fast_scorer(target)
    except FastPathUnavailable as exc:
        return _on_torch(model, name, str(exc))
    except OSError as exc:
        return _on_torch(model, name, f"the cache cannot be written: {exc}")
    seconds = time.perf_counter() - began
    note = (
        f"first use of reranker {name}: exported to ONNX and checked against "
        f"sentence-transformers in {seconds:.1f} s ({target}); later runs do without torch"
    )
    return Reranker(scorer, name), note


def _on_torch(model: CrossEncoder, name: str, why: str, then: str = "") -> tuple[Reranker, str]:
    why = (why.strip().splitlines() or [""])[0][:240]
    note = f"fast rerank path unavailable ({why}); using sentence-transformers"
    return Reranker(TorchPairScorer(model), name), note + (f"; {then}" if then else "")


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
