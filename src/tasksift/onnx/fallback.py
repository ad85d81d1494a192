"""ONNX first, torch when it cannot be used: the one fallback, and the one switch to skip it.

``TASKSIFT_FAST_PATH=0`` sends every model (the query encoder, the reranker) to
sentence-transformers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from tasksift.onnx.runtime import OnnxUnavailable

FAST_PATH_ENV = "TASKSIFT_FAST_PATH"
T = TypeVar("T")


def onnx_enabled() -> bool:
    """False when $TASKSIFT_FAST_PATH is 0."""
    return os.environ.get(FAST_PATH_ENV, "1") != "0"


def onnx_or_torch(
    path: str, onnx: Callable[[], tuple[T, str | None]], torch: Callable[[], T]
) -> tuple[T, str | None]:
    """``onnx()`` (a model and a note, such as one on a first export), else ``torch()``
    with a note saying why: ONNX is switched off, or ``onnx()`` raised OnnxUnavailable.
    ``path`` names the path in the notes ("query", "document", "rerank")."""
    if not onnx_enabled():
        return torch(), f"{path} path on sentence-transformers ({FAST_PATH_ENV}=0)"
    try:
        return onnx()
    except OnnxUnavailable as exc:
        why = (str(exc).strip().splitlines() or [""])[0][:240]
        then = f"; {exc.then}" if exc.then else ""
        return torch(), f"fast {path} path unavailable ({why}); using sentence-transformers{then}"
