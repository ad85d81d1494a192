"""Split from tasksift.fastrerank: TODO."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasksift.errors import first_line
from tasksift.onnx.runtime import (
    MODEL_FILE,
    TOKENIZER_FILE,
    DamagedExport,
    FastPathUnavailable,
    open_onnx_model,
)
from tasksift.onnx.runtime import pad_token as find_pad_token
from tasksift.vectors.models import WEIGHT_FILE_SUFFIXES, file_sha256, weights_fingerprint

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder
    from tokenizers import Encoding, Tokenizer
from tasksift.onnx.store import _file_stats, _read_json, _write_json, cache_root

EXPORT_FORMAT = 2  # bump when the export changes, so that older exports are redone
MAX_SCORE_DIFF = 1e-3
TIE = 1e-5  # probe scores closer than this may swap places
BATCH_PAIRS = 4  # pairs per onnxruntime call, sorted by length (small batches run fastest)
RERANKERS = "rerankers"
CHECK_FILE = "check.json"
KEYS_FILE = "keys.json"
CONFIG_FILE_LIMIT = 16 << 20  # bytes; larger non-weight files are not part of the key
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
_LONG = "Erosion of the outer bank of a meander undercuts the roots of riverside trees. "
PROBE_PAIRS = (
    ("what is the capital of France", "Paris is the capital and largest city of France."),
    (
        "How do banks decide whether to approve a small business loan?",
        "Lenders weigh cash flow, collateral and the owner's credit history before approving.",
    ),
    ("river bank erosion", "Willow roots hold the soil of a river bank together."),
    ("vitamin D and bone density", "0-dimensional biomaterials show inductive properties."),
    ("¿Dónde está la biblioteca?", "Über naïve café façades — 東京の天気"),
    ("a", "b"),
    ("why do rivers meander", _LONG * 60),  # longer than any model reads: truncated
    (_LONG * 40, "a short answer"),  # a query longer than the model reads
)


class NotExported(FastPathUnavailable):
    """This cross-encoder has no export in the cache yet."""


def export_folder(model_folder: Path) -> Path:
    """Where the export of the cross-encoder in ``model_folder`` lives in the cache."""
    return cache_root() / RERANKERS / model_key(model_folder)


def model_key(folder: Path) -> str:
    """The cache key of a model folder: its weights fingerprint, its other files (config,
    tokenizer) and the export format, hashed. Remembered per file size and mtime in the
    cache, so that the weights are hashed once, not on every run."""
    files = _file_stats(folder)
    keys_path = cache_root() / RERANKERS / KEYS_FILE
    known = _read_json(keys_path) or {}
    entry = known.get(str(folder))
    if isinstance(entry, dict) and entry.get("files") == files:
        return str(entry["key"])
    digest = hashlib.sha256(f"{EXPORT_FORMAT}:{weights_fingerprint(folder)}".encode())
    for path in sorted(folder.iterdir()):
        weights = path.name.endswith(WEIGHT_FILE_SUFFIXES)
        if path.is_file() and not weights and path.stat().st_size <= CONFIG_FILE_LIMIT:
            digest.update(f"{path.name}:{file_sha256(path)}".encode())
    key = digest.hexdigest()[:24]
    _write_json(keys_path, {**known, str(folder): {"files": files, "key": key}})
    return key


# ----------------------------------------------------------------- export


def export_reranker(model: CrossEncoder, folder: Path) -> dict[str, Any]:
    """Export, check and store ``model`` in ``folder``; its check record.

    FastPathUnavailable when the export fails or its check does; a failed check is
    recorded (without the model) so that later runs do not export again.
    """
    staging = folder.parent / f".{folder.name}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        check = _export(model, staging)
        if not check["passed"]:
            (staging / MODEL_FILE).unlink()
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except FastPathUnavailable:
        raise
    except Exception as exc:  # any failure leaves the torch path, never a broken cache
        reason = first_line(exc)
        if isinstance(exc, OSError) and (folder / CHECK_FILE).is_file():
            return _read_json(folder / CHECK_FILE) or {}  # another process exported it
        raise FastPathUnavailable(f"export failed: {reason[:200]}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not check["passed"]:
        raise FastPathUnavailable(f"its check failed: {check['reason']}")
    return check


def _export(model: CrossEncoder, folder: Path) -> dict[str, Any]:
    """Write model, tokenizer and check into ``folder``; the check record."""
    import torch

    tokenizer = getattr(model.tokenizer, "backend_tokenizer", None)
    if tokenizer is None:
        raise FastPathUnavailable("the reranker has no fast (Rust) tokenizer")
    features = model.preprocess(list(PROBE_PAIRS[:2]))
    names = [name for name in INPUT_NAMES if name in features]
    activation = model.activation_fn or torch.nn.Identity()

    class PairScores(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            scores = self.model(dict(zip(names, tensors, strict=True)))["scores"]
            return activation(scores.float()).reshape(-1)

    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    with warnings.catch_warnings(), torch.no_grad(), _eager_attention(model):
        warnings.simplefilter("ignore")
        model.eval()
        torch.onnx.export(
            PairScores(),
            tuple(features[n] for n in names),
            str(folder / MODEL_FILE),
            input_names=names,
            output_names=["score"],
            dynamic_axes={**dynamic, "score": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tokenizer.save(str(folder / TOKENIZER_FILE))
    settings = {
        "inputs": names,
        "max_length": int(model.max_seq_length),
        "padding_side": getattr(model.tokenizer, "padding_side", "right"),
        "truncation_side": getattr(model.tokenizer, "truncation_side", "right"),
        "activation": type(activation).__name__,
    }
    return _check(model, folder, settings)


@contextlib.contextmanager
def _eager_attention(model: CrossEncoder) -> Iterator[None]:
    """Trace plain (eager) attention: its ONNX graph runs about 10% faster on CPU than the
    traced scaled-dot-product kernel (bench/rerank.py). The model's own is restored."""
    inner = getattr(model, "model", None)
    config = getattr(inner, "config", None)
    before = getattr(config, "_attn_implementation", None)
    try:
        inner.set_attn_implementation("eager")
        switched = True
    except Exception:  # a model without the switch is traced as it is
        switched = False
    try:
        yield
    finally:
        if switched and before is not None:
            inner.set_attn_implementation(before)


def _check(model: CrossEncoder, folder: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Score the probe pairs with the export and with ``model``; write and return the
    comparison."""
    pairs = list(PROBE_PAIRS)
    reference = np.asarray(
        model.predict(pairs, batch_size=len(pairs), show_progress_bar=False), dtype=np.float32
    ).reshape(-1)
    ours = OnnxPairScorer(folder, settings).score_pairs(pairs)
    diff = float(np.max(np.abs(ours - reference)))
    reason = None
    if not diff <= MAX_SCORE_DIFF:
        reason = f"probe scores differ by {diff:.2g} > {MAX_SCORE_DIFF}"
    elif not same_order(reference, ours):
        reason = "the probe pairs rank differently"
    check = {
        **settings,
        "passed": reason is None,
        "reason": reason,
        "max_diff": diff,
        "probes": len(pairs),
        "probe": list(pairs[1]),
        "probe_score": float(reference[1]),
    }
    (folder / CHECK_FILE).write_text(json.dumps(check), encoding="utf-8")
    return check


def same_order(reference: np.ndarray, ours: np.ndarray) -> bool:
    """Whether ``ours`` ranks the pairs as ``reference`` does, up to ties (scores within
    ``TIE`` of each other may swap)."""
    in_our_order = reference[np.argsort(-ours, kind="stable")]
    return bool(np.all(np.diff(in_our_order) <= TIE))


# ----------------------------------------------------------------- use


class OnnxPairScorer:
    """Scores (query, text) pairs with onnxruntime and the model's Rust tokenizer."""

    backend = "onnx"

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        self.max_length = int(settings["max_length"])
        self._inputs = list(settings["inputs"])
        self._session, self._tokenizer = open_onnx_model(folder)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(
            max_length=self.max_length,
            strategy="longest_first",
            direction=settings.get("truncation_side", "right"),
        )
        self._pad_id = self._tokenizer.token_to_id(find_pad_token(self._tokenizer)) or 0
        self._left = settings.get("padding_side") == "left"

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """One score per pair; pairs of similar length are batched together."""
        scores = np.zeros(len(pairs), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(pairs)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), BATCH_PAIRS):
            part = order[start : start + BATCH_PAIRS]
            arrays = self._padded([encodings[i] for i in part])
            (scores[part],) = self._session.run(None, {n: arrays[n] for n in self._inputs})
        return scores

    def _padded(self, encodings: list[Encoding]) -> dict[str, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        shape = (len(encodings), width)
        arrays = {
            "input_ids": np.full(shape, self._pad_id, dtype=np.int64),
            "attention_mask": np.zeros(shape, dtype=np.int64),
            "token_type_ids": np.zeros(shape, dtype=np.int64),
        }
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            place = slice(width - size, width) if self._left else slice(0, size)
            arrays["input_ids"][row, place] = encoding.ids
            arrays["attention_mask"][row, place] = encoding.attention_mask
            arrays["token_type_ids"][row, place] = encoding.type_ids
        return arrays


def load_fast_scorer(folder: Path) -> OnnxPairScorer:
    """The checked export in ``folder``: NotExported when there is none yet,
    DamagedExport when it cannot be trusted, FastPathUnavailable when its check failed or
    onnxruntime is missing."""
    if not folder.is_dir():
        raise NotExported(f"{folder} does not exist")
    check = _read_json(folder / CHECK_FILE)
    if check is None:
        raise DamagedExport(f"{folder / CHECK_FILE} is missing or unreadable")
    if not check.get("passed"):
        raise FastPathUnavailable(
            f"its check failed: {check.get('reason')}; delete {folder} to try again"
        )
    try:
        scorer = OnnxPairScorer(folder, check)
        (score,) = scorer.score_pairs([tuple(check["probe"])])
    except FastPathUnavailable:
        raise
    except Exception as exc:
        raise DamagedExport(f"{folder} cannot be used: {type(exc).__name__}") from None
    if not abs(float(score) - float(check["probe_score"])) <= MAX_SCORE_DIFF:
        raise DamagedExport(f"its self-check scored {score:.4f}, not {check['probe_score']:.4f}")
    return scorer


def remove_export(folder: Path) -> None:
    """Drop a damaged export, so that the next run exports the model again."""
    shutil.rmtree(folder, ignore_errors=True)
