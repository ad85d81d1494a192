"""A cross-encoder on ONNX: exported on its first use into the user cache
(``CACHE/onnx/cross-encoder/<key>``), shared by every index, and scoring (query, text)
pairs without torch afterwards (``OnnxPairScorer``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tasksift.onnx.check import PROBE_PAIRS, Kind
from tasksift.onnx.runtime import DamagedExport, NotExported, OnnxModel, OnnxUnavailable
from tasksift.onnx.store import (
    EXPORTS,
    cache_root,
    export_folder,
    export_key,
    file_stats,
    open_export,
    read_json,
    remove_earlier_layout,
    remove_export,
    save_export,
    write_json,
)
from tasksift.vectors.models import WEIGHT_FILE_SUFFIXES, file_sha256, weights_fingerprint

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder
    from tokenizers import Tokenizer

    from tasksift.onnx.export import ExportSpec

CROSS_ENCODER = Kind.CROSS_ENCODER
KEYS_FILE = "keys.json"
CONFIG_FILE_LIMIT = 16 << 20  # bytes; larger non-weight files are not part of the key


class OnnxPairScorer:
    """Scores (query, text) pairs with an export: onnxruntime and the model's Rust tokenizer."""

    backend = "onnx"

    def __init__(self, model: OnnxModel) -> None:
        self._model = model
        self.max_length = model.settings.max_length

    @property
    def tokenizer(self) -> Tokenizer:
        return self._model.tokenizer

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """One score per pair; pairs of similar length are batched together."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        return CROSS_ENCODER.outputs(self._model.run(pairs, CROSS_ENCODER.batch_size))


def model_key(folder: Path) -> str:
    """The cache key of the cross-encoder in ``folder``: its weights fingerprint and its
    other files (config, tokenizer). Remembered per file size and mtime in the cache, so
    that the weights are hashed once, not on every run; when the files changed, the export
    of their former key is removed."""
    files = file_stats(folder)
    keys_path = cache_root() / EXPORTS / KEYS_FILE
    known = read_json(keys_path) or {}
    entry = known.pop(str(folder), None)
    if isinstance(entry, dict) and entry.get("files") == files:
        return str(entry["key"])
    parts = [weights_fingerprint(folder)]
    for path in sorted(folder.iterdir()):
        weights = path.name.endswith(WEIGHT_FILE_SUFFIXES)
        if path.is_file() and not weights and path.stat().st_size <= CONFIG_FILE_LIMIT:
            parts.append(f"{path.name}:{file_sha256(path)}")
    key = export_key(*parts)
    former = entry.get("key") if isinstance(entry, dict) else None
    if former and former != key and all(e.get("key") != former for e in known.values()):
        remove_export(export_folder(cache_root(), CROSS_ENCODER, str(former)))
    write_json(keys_path, {**known, str(folder): {"files": files, "key": key}})
    return key


def cross_encoder_spec(model: CrossEncoder) -> ExportSpec:
    """The export of ``model``: its scores with the activation its configuration names."""
    import torch

    from tasksift.onnx.export import ExportSpec

    activation = model.activation_fn or torch.nn.Identity()
    pairs = list(PROBE_PAIRS)
    return ExportSpec(
        kind=CROSS_ENCODER,
        model=model,
        output=lambda features: activation(features["scores"].float()).reshape(-1),
        probes=PROBE_PAIRS,
        reference=lambda: model.predict(pairs, batch_size=len(pairs), show_progress_bar=False),
        details={"activation": type(activation).__name__},
    )


def open_onnx_scorer(
    name: str, folder: Path, load_model: Callable[[], CrossEncoder]
) -> tuple[OnnxPairScorer, str | None]:
    """The checked export of the cross-encoder in ``folder``, exported from ``load_model()``
    on first use (with a note saying so). OnnxUnavailable when it cannot be used; a damaged
    one is removed, to be exported again next time."""
    key = model_key(folder)
    where = export_folder(cache_root(), CROSS_ENCODER, key)
    try:
        return OnnxPairScorer(open_export(where, CROSS_ENCODER)[0]), None
    except NotExported:
        pass
    except DamagedExport as exc:
        remove_export(where)
        raise DamagedExport(str(exc), then="it is exported again next time") from None
    began = time.perf_counter()
    saved, check = save_export(cross_encoder_spec(load_model()), cache_root(), key)
    remove_earlier_layout(cache_root(), CROSS_ENCODER)
    if not check.passed:
        raise OnnxUnavailable(f"its check failed: {check.reason}")
    scorer = OnnxPairScorer(open_export(saved, CROSS_ENCODER)[0])
    seconds = time.perf_counter() - began
    note = (
        f"first use of reranker {name}: exported to ONNX and checked against "
        f"sentence-transformers in {seconds:.1f} s ({saved}); later runs do without torch"
    )
    return scorer, note
