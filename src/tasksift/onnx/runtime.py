"""Run an export: an onnxruntime CPU session and the model's Rust tokenizer, without torch.

``OnnxModel`` tokenizes inputs (texts, or (query, text) pairs), batches them by length,
pads each batch and returns the model's output rows in the order of the inputs. The
errors say why an export cannot be used; every caller falls back to torch on them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
Input = str | tuple[str, str]  # a text, or a (query, text) pair


class OnnxUnavailable(Exception):
    """ONNX cannot be used; the message says why, ``then`` what happens next time."""

    def __init__(self, reason: str, then: str = "") -> None:
        super().__init__(reason)
        self.then = then


class NotExported(OnnxUnavailable):
    """The model has no export yet."""


class DamagedExport(OnnxUnavailable):
    """An export's files are unreadable, or it fails its check on load."""


@dataclass(frozen=True)
class RunSettings:
    """How inputs are tokenized for the exported graph (recorded with each export)."""

    inputs: tuple[str, ...]  # the graph's input names, a subset of INPUT_NAMES
    max_length: int
    padding_side: str = "right"
    truncation_side: str = "right"


class OnnxModel:
    """An export ready to run: its session, its tokenizer and how to feed it."""

    def __init__(self, folder: Path, settings: RunSettings) -> None:
        self.settings = settings
        self._session, self.tokenizer = _open(folder)
        self._pad_id = self.tokenizer.token_to_id(pad_token(self.tokenizer)) or 0
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(
            max_length=settings.max_length,
            strategy="longest_first",
            direction=settings.truncation_side,
        )

    def run(self, inputs: Sequence[Input], batch_size: int) -> np.ndarray:
        """The output row of each input; inputs of similar length are batched together."""
        encodings = self.tokenizer.encode_batch(list(inputs))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        outputs: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            arrays = self._padded([encodings[i] for i in part])
            feed = {name: arrays[name] for name in self.settings.inputs}
            (result,) = self._session.run(None, feed)
            if outputs is None:
                outputs = np.zeros((len(order), *result.shape[1:]), dtype=np.float32)
            outputs[part] = result
        return outputs if outputs is not None else np.zeros(0, dtype=np.float32)

    def _padded(self, encodings: list[Encoding]) -> dict[str, np.ndarray]:
        """The batch's input arrays, padded to its longest on the model's padding side."""
        width = max(len(e.ids) for e in encodings)
        shape = (len(encodings), width)
        arrays = {
            "input_ids": np.full(shape, self._pad_id, dtype=np.int64),
            "attention_mask": np.zeros(shape, dtype=np.int64),
            "token_type_ids": np.zeros(shape, dtype=np.int64),
        }
        left = self.settings.padding_side == "left"
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            place = slice(width - size, width) if left else slice(0, size)
            arrays["input_ids"][row, place] = encoding.ids
            arrays["attention_mask"][row, place] = encoding.attention_mask
            arrays["token_type_ids"][row, place] = encoding.type_ids
        return arrays


def _open(folder: Path) -> tuple[Any, Tokenizer]:
    """An onnxruntime CPU session of ``folder``'s model and its Rust tokenizer."""
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise OnnxUnavailable(f"{exc.name} is not installed") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = min(4, os.cpu_count() or 1)
    try:
        session = onnxruntime.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        return session, Tokenizer.from_file(str(folder / TOKENIZER_FILE))
    except Exception as exc:
        raise DamagedExport(f"cannot load {folder}: {exc}") from None


def pad_token(tokenizer: Tokenizer) -> str:
    """The token a model pads with: the tokenizer's own, else a usual one it knows."""
    padding = tokenizer.padding
    if padding and padding.get("pad_token"):
        return padding["pad_token"]
    for token in ("[PAD]", "<pad>", "<|endoftext|>"):
        if tokenizer.token_to_id(token) is not None:
            return token
    return "[PAD]"
