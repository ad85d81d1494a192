"""Split from tasksift.fastpath: TODO."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer


MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


class FastPathUnavailable(Exception):
    """The fast path cannot be used; the message says why."""


class DamagedExport(FastPathUnavailable):
    """An export's files are unreadable, or it fails its self-check."""


def open_onnx_model(folder: Path) -> tuple[Any, Tokenizer]:
    """An onnxruntime CPU session of ``folder``'s model and its Rust tokenizer, without
    torch; FastPathUnavailable saying why when either cannot be loaded."""
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise FastPathUnavailable(f"{exc.name} is not installed") from None
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
