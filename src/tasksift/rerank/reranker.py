"""Rerank candidates with a pair scorer (ONNX or torch): each text paired with the query,
truncated as the model requires, a long one scored on its best window."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer


WINDOW_OVERLAP = 0.5  # share of a window's tokens that the next window repeats
MIN_WINDOW = 32  # tokens; a query that leaves less room is truncated with the text
KNOWN_LIMIT = 200_000  # pair scores a reranker remembers (eval scores many twice)


class PairScorer(Protocol):
    """What scores (query, text) pairs: an ONNX export or a torch cross-encoder."""

    backend: str
    max_length: int

    @property
    def tokenizer(self) -> Tokenizer | None: ...

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray: ...


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
