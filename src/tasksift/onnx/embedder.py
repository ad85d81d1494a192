"""Split from tasksift.fastpath: TODO."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasksift.errors import first_line

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from tasksift.vectors.embedder import SentenceTransformerEmbedder
from tasksift.onnx.runtime import (
    MODEL_FILE,
    TOKENIZER_FILE,
    FastPathUnavailable,
    open_onnx_model,
    pad_token,
)

MIN_COSINE = 0.9999
FAST_DIR = "query-encoder"
CHECK_FILE = "check.json"
PROBES = (
    "what is the capital of France",
    "How do banks decide whether to approve a small business loan?",
    "river bank erosion",
    "Vitamin D supplementation and bone mineral density in older adults",
    "¿Dónde está la biblioteca? Über naïve café façades — 東京の天気",
    "a",
    "0-dimensional biomaterials show inductive properties.",
    " ".join(["a long query that goes past the model's maximum sequence length"] * 60),
)


@dataclass(frozen=True)
class FastPathRecord:
    """What the manifest records about the fast path."""

    directory: str | None  # relative to the index folder
    passed: bool
    min_cosine: float | None = None
    probes: int = 0
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "passed": self.passed,
            "min_cosine": self.min_cosine,
            "probes": self.probes,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FastPathRecord | None:
        return None if data is None else cls(**data)


def _key(embedder: SentenceTransformerEmbedder, query_prompt: str) -> str:
    text = json.dumps([embedder.fingerprint, query_prompt, embedder.max_seq_length])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def export_query_encoder(
    embedder: SentenceTransformerEmbedder, query_prompt: str, adapter: str | None, index_dir: Path
) -> FastPathRecord:
    """Export, check and store the query encoder; a record of failure when it cannot be."""
    if adapter is not None:
        return FastPathRecord(None, False, reason="adapter models (encode(task=...)) use torch")
    relative = f"{FAST_DIR}/{_key(embedder, query_prompt)}"
    target = index_dir / relative
    existing = _read_check(target)
    if existing is not None and (target / MODEL_FILE).is_file():
        return FastPathRecord(relative, True, existing["min_cosine"], len(PROBES))
    staging = index_dir / FAST_DIR / f".{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        min_cosine = _export(embedder, query_prompt, staging)
        if min_cosine < MIN_COSINE:
            return FastPathRecord(
                None,
                False,
                min_cosine,
                len(PROBES),
                f"probe cosine {min_cosine:.6f} < {MIN_COSINE}",
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except Exception as exc:  # any export failure leaves the torch path, never a broken index
        reason = first_line(exc)
        return FastPathRecord(None, False, reason=f"export failed: {reason[:200]}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FastPathRecord(relative, True, min_cosine, len(PROBES))


def _read_check(folder: Path) -> dict[str, Any] | None:
    try:
        check = json.loads((folder / CHECK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return check if check.get("min_cosine", 0) >= MIN_COSINE else None


def _export(embedder: SentenceTransformerEmbedder, query_prompt: str, folder: Path) -> float:
    """Write model, tokenizer and check into ``folder``; the lowest probe cosine."""
    import torch

    model = embedder.model
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 5.x
    features = preprocess([query_prompt + PROBES[0], query_prompt + PROBES[1]])
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]

    class QueryEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        model.eval()
        torch.onnx.export(
            QueryEncoder(),
            tuple(features[n] for n in names),
            str(folder / MODEL_FILE),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**dynamic, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    embedder.tokenizer.save(str(folder / TOKENIZER_FILE))
    padding_side = getattr(model.tokenizer, "padding_side", "right")
    reference = embedder.encode(list(PROBES), query_prompt)
    settings = {"inputs": names, "max_seq_length": embedder.max_seq_length,
                "padding_side": padding_side, "query_prompt": query_prompt}  # fmt: skip
    onnx = OnnxQueryEmbedder(folder, settings, embedder.dimension)
    cosines = np.sum(onnx.encode(list(PROBES), query_prompt) * reference, axis=1)
    check = {
        **settings,
        "dimension": embedder.dimension,
        "min_cosine": float(cosines.min()),
        "probe": PROBES[1],
        "probe_vector": reference[1].tolist(),
    }
    (folder / CHECK_FILE).write_text(json.dumps(check), encoding="utf-8")
    return float(cosines.min())


class OnnxQueryEmbedder:
    """Encodes queries with onnxruntime and the model's Rust tokenizer (no torch)."""

    def __init__(self, folder: Path, settings: dict[str, Any], dimension: int) -> None:
        self.dimension = dimension
        self.max_seq_length = int(settings["max_seq_length"])
        self._inputs = list(settings["inputs"])
        self._session, self._tokenizer = open_onnx_model(folder)
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        pad = pad_token(self._tokenizer)
        self._tokenizer.enable_padding(
            direction=settings.get("padding_side", "right"),
            pad_id=self._tokenizer.token_to_id(pad) or 0,
            pad_token=pad,
        )

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    def encode(
        self, texts: list[str], prompt: str, adapter: str | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """Unit vectors of ``prompt + text``; batches of similar length, so little padding."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            batch = self._tokenizer.encode_batch([prompt + texts[i] for i in part])
            arrays = {
                "input_ids": np.asarray([e.ids for e in batch], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in batch], dtype=np.int64),
                "token_type_ids": np.asarray([e.type_ids for e in batch], dtype=np.int64),
            }
            (vectors[part],) = self._session.run(None, {n: arrays[n] for n in self._inputs})
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def load_fast_embedder(index_dir: Path, record: FastPathRecord | None) -> OnnxQueryEmbedder:
    """The checked fast query encoder of an index, or FastPathUnavailable saying why not."""
    if record is None:
        raise FastPathUnavailable("the index was built without one")
    if not record.passed or record.directory is None:
        raise FastPathUnavailable(record.reason or "its check did not pass")
    folder = index_dir / record.directory
    check = _read_check(folder)
    if check is None:
        raise FastPathUnavailable(f"{folder} is missing or did not pass its check")
    embedder = OnnxQueryEmbedder(folder, check, int(check["dimension"]))
    probe = embedder.encode([check["probe"]], check["query_prompt"])[0]
    cosine = float(probe @ np.asarray(check["probe_vector"], dtype=np.float32))
    if cosine < MIN_COSINE:
        raise FastPathUnavailable(f"its self-check gave cosine {cosine:.6f} < {MIN_COSINE}")
    return embedder


def remove_other_encoders(index_dir: Path, keep: str | None) -> None:
    """Drop query encoders of earlier builds that the live manifest no longer names."""
    root = index_dir / FAST_DIR
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if f"{FAST_DIR}/{folder.name}" != keep:
            shutil.rmtree(folder, ignore_errors=True)
