"""Rerank: rescore candidate chunks with a sentence-transformers cross-encoder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tasksift.errors import ModelLoadError
from tasksift.options import DEFAULT_RERANK_MODEL
from tasksift.search import Hit
from tasksift.vectors import ModelSource, loadable_target, locate_in_hub_cache, quiet_transformers

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder


class Reranker:
    """Scores (query, chunk text) pairs; higher is more relevant."""

    def __init__(self, model: CrossEncoder, name: str) -> None:
        self._model = model
        self.name = name

    def score(self, query: str, texts: list[str], batch_size: int = 32) -> list[float]:
        if not texts:
            return []
        scores = self._model.predict(
            [(query, text) for text in texts], batch_size=batch_size, show_progress_bar=False
        )
        return [float(s) for s in scores]

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """``hits`` with their reranker score, best first (ties keep the dense order)."""
        scores = self.score(query, [hit.text for hit in hits])
        rescored = [replace(hit, rerank_score=s) for hit, s in zip(hits, scores, strict=True)]
        return sorted(rescored, key=lambda h: h.rerank_score, reverse=True)


def locate_reranker(name: str) -> str:
    """Where to load a cross-encoder from: a local folder, the Hub cache, or the Hub when
    it answers. Found before torch is imported, so that a missing one fails at once."""
    local = Path(name).expanduser()
    source = (
        ModelSource(str(local.resolve()), local.resolve())
        if local.is_dir()
        else locate_in_hub_cache(name)
    )
    return loadable_target(source, "reranker")


def load_reranker(name: str = DEFAULT_RERANK_MODEL) -> Reranker:
    """Load a cross-encoder from a local folder or the Hugging Face Hub (or its cache)."""
    target = locate_reranker(name)
    quiet_transformers()
    from sentence_transformers import CrossEncoder

    try:
        model = CrossEncoder(target, device=None)
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"cannot load reranker {name!r}: {detail}. Pass a local cross-encoder folder with "
            "--rerank-model, or download it where there is network"
        ) from exc
    return Reranker(model, target)
