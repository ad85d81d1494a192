"""Rerank: rescore candidate chunks with a cross-encoder, on ONNX when it can.

``open_reranker`` locates the cross-encoder first (a local folder or the Hugging Face
cache), so that a missing one fails before anything heavy is imported. It then scores
with the model's checked ONNX export from the user cache (see ``fastrerank``), exporting
it on first use, and falls back to sentence-transformers' ``CrossEncoder``, with a note,
when it cannot (or when TASKSIFT_FAST_PATH=0).

A candidate that does not fit beside the query in the tokens the model reads is scored on
its best window: overlapping windows of its tokens, each paired with the query, the best
score kept (plain truncation would only ever see its start).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from tasksift.errors import ModelLoadError
from tasksift.options import DEFAULT_RERANK_MODEL
from tasksift.search import Hit
from tasksift.vectors import ModelSource, loadable_target, locate_in_hub_cache, quiet_transformers

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder
    from tokenizers import Tokenizer

WINDOW_OVERLAP = 0.5  # share of a window's tokens that the next window repeats
MIN_WINDOW = 32  # tokens; a query that leaves less room is truncated with the text
KNOWN_LIMIT = 200_000  # pair scores a reranker remembers (eval scores many twice)
TORCH_BATCH = 4  # pairs per sentence-transformers batch (small batches run fastest on CPU)


class PairScorer(Protocol):
    """What scores (query, text) pairs: an ONNX export or a torch cross-encoder."""

    backend: str
    max_length: int

    @property
    def tokenizer(self) -> Tokenizer | None: ...

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray: ...


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


class Reranker:
    """Scores (query, chunk text) pairs; higher is more relevant.

    With ``windows`` (the default) a text too long for the model beside the query is
    scored on its best window; without, it is truncated as the model truncates.
    """

    def __init__(self, scorer: PairScorer, name: str, windows: bool = True) -> None:
        from tasksift.chunks import untruncated

        self.scorer = scorer
        self.name = name
        tokenizer = scorer.tokenizer if windows else None
        self._counter = untruncated(tokenizer) if tokenizer is not None else None
        self._known: dict[int, float] = {}

    @property
    def backend(self) -> str:
        return self.scorer.backend

    def score(self, query: str, texts: list[str]) -> list[float]:
        return [float(s) for s in self.score_many([query], [texts])[0]]

    def score_many(self, queries: Sequence[str], texts: Sequence[list[str]]) -> list[np.ndarray]:
        """Each query's scores of its texts; the pairs of all queries are scored together
        (batches of similar length), and pairs scored before are not scored again."""
        results = [np.full(len(mine), -np.inf, dtype=np.float32) for mine in texts]
        pairs: list[tuple[str, str]] = []
        owners: list[tuple[int, int, int]] = []  # (query, text, key) of each pair
        for q, (query, mine) in enumerate(zip(queries, texts, strict=True)):
            keys = [hash((query, text)) for text in mine]
            results[q][:] = [self._known.get(key, -np.inf) for key in keys]
            todo = [t for t, key in enumerate(keys) if key not in self._known]
            for t, parts in zip(todo, self._windows(query, [mine[t] for t in todo]), strict=True):
                pairs += [(query, part) for part in parts]
                owners += [(q, t, keys[t])] * len(parts)
        if len(self._known) > KNOWN_LIMIT:
            self._known.clear()
        for (q, t, key), score in zip(owners, self.scorer.score_pairs(pairs), strict=True):
            results[q][t] = max(results[q][t], float(score))
            self._known[key] = float(results[q][t])
        return results

    def _windows(self, query: str, texts: list[str]) -> list[list[str]]:
        if self._counter is None or not texts:
            return [[text] for text in texts]
        room = (
            self.scorer.max_length
            - self._counter.num_special_tokens_to_add(True)
            - len(self._counter.encode(query, add_special_tokens=False).ids)
        )
        if room < MIN_WINDOW:
            return [[text] for text in texts]
        encodings = self._counter.encode_batch(texts, add_special_tokens=False)
        return [
            text_windows(text, e.offsets, e.word_ids, room)
            for text, e in zip(texts, encodings, strict=True)
        ]

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """``hits`` with their reranker score, best first (ties keep the first-stage order)."""
        return self.rerank_many([query], [hits])[0]

    def rerank_many(self, queries: Sequence[str], hits: Sequence[list[Hit]]) -> list[list[Hit]]:
        """``rerank`` for each query, every pair scored in one call."""
        scores = self.score_many(queries, [[hit.text for hit in mine] for mine in hits])
        return [_rescored(mine, s) for mine, s in zip(hits, scores, strict=True)]


def _rescored(hits: list[Hit], scores: np.ndarray) -> list[Hit]:
    rescored = []
    for hit, score in zip(hits, scores, strict=True):
        why = hit.explanation and replace(hit.explanation, first_stage_rank=hit.rank)
        rescored.append(replace(hit, rerank_score=float(score), explanation=why))
    return sorted(rescored, key=lambda h: h.rerank_score, reverse=True)


def text_windows(
    text: str, offsets: list[tuple[int, int]], words: list[int | None], room: int
) -> list[str]:
    """``text`` whole when its tokens (``offsets``, ``words``: its encoding's) fit in
    ``room``, else evenly spaced windows of at most ``room`` tokens that overlap by about
    ``WINDOW_OVERLAP`` and cover it all, each starting and ending on a word boundary."""
    size = len(offsets)
    if size <= room:
        return [text]
    step = max(1, int(room * (1 - WINDOW_OVERLAP)))
    count = math.ceil((size - room) / step) + 1
    windows = []
    for i in range(count):
        start = round(i * (size - room) / (count - 1))
        end = start + room
        first, last = start, end
        while 0 < first < last and words[first] is not None and words[first] == words[first - 1]:
            first += 1  # do not start inside a word
        while first < last < size and words[last] is not None and words[last] == words[last - 1]:
            last -= 1  # nor end inside one
        if first >= last:  # one word longer than the window: cut it
            first, last = start, end
        windows.append(text[offsets[first][0] : offsets[last - 1][1]])
    return windows


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
    from tasksift.fastpath import FastPathUnavailable
    from tasksift.fastrerank import NotExported, export_folder, load_fast_scorer, remove_export

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
        from tasksift.fastpath import DamagedExport

        damaged = isinstance(exc, DamagedExport)
        if damaged:
            remove_export(folder)
        model = _load_cross_encoder(name, source)
        return _on_torch(model, name, str(exc), "it is exported again next time" if damaged else "")


def _first_use(model: CrossEncoder, name: str, folder: Path) -> tuple[Reranker, str | None]:
    """Export ``model`` to the cache and use the export, else the model itself."""
    from tasksift.fastpath import FastPathUnavailable
    from tasksift.fastrerank import export_folder, export_reranker, load_fast_scorer

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
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"cannot load reranker {name!r}: {detail}. Pass a local cross-encoder folder with "
            "--rerank-model, or download it where there is network"
        ) from exc


def load_reranker(name: str = DEFAULT_RERANK_MODEL) -> Reranker:
    """``open_reranker`` without its note."""
    return open_reranker(name)[0]
