"""Chunks: split documents into windows of the model's own tokens, with overlap.

Windows start and end on word boundaries, so that a chunk's text, re-tokenized with the
document prompt in front, fits the model's maximum sequence length: a chunk that would not
is shrunk until it does. No text is ever dropped: every character of a document lies in
some chunk (whitespace between windows aside). A document with sections (headings) is
chunked section by section, so that no chunk straddles a heading; each chunk records its
section path, its page (PDF) and its lines (text formats).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from tokenizers import Encoding, Tokenizer

from tasksift.documents import Document
from tasksift.errors import InputError
from tasksift.options import ChunkingConfig


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    ordinal: int
    start: int  # character offsets in the document's text
    end: int
    text: str
    section: str | None = None  # heading path, "Installation > From source"
    page: int | None = None  # 1-based page where the chunk starts (PDF)
    line_start: int | None = None  # 1-based lines of the file (text formats)
    line_end: int | None = None


def untruncated(tokenizer: Tokenizer) -> Tokenizer:
    """A private copy of ``tokenizer`` that neither truncates nor pads, to count tokens."""
    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy


class Chunker:
    """Token-window chunking with a private, non-truncating copy of the model's tokenizer."""

    def __init__(self, tokenizer: Tokenizer, max_seq_length: int, document_prompt: str) -> None:
        self._tokenizer = untruncated(tokenizer)
        self.max_seq_length = max_seq_length
        self.document_prompt = document_prompt
        self._prompt_tokens = self.count_tokens(document_prompt, special=True)
        if self.budget < 8:
            raise InputError(
                f"the document prompt takes {self._prompt_tokens} of the model's "
                f"{max_seq_length} tokens, leaving no room for text; use a shorter prompt"
            )

    @property
    def budget(self) -> int:
        """The most chunk tokens that fit after the prompt and the special tokens."""
        return self.max_seq_length - self._prompt_tokens

    def count_tokens(self, text: str, special: bool = False) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=special).ids)

    def fits(self, text: str) -> bool:
        encoded = self._tokenizer.encode(self.document_prompt + text, add_special_tokens=True)
        return len(encoded.ids) <= self.max_seq_length

    def chunk(self, document: Document, config: ChunkingConfig) -> list[Chunk]:
        text, layout = document.text, document.layout
        bounds = sorted({0, len(text), *(s.start for s in document.sections)})
        spans = []
        for begin, end in zip(bounds, bounds[1:], strict=False):
            if text[begin:end].strip():
                spans += self._spans(text[begin:end], config, base=begin)
        newlines = _newlines(text) if document.lines else None
        chunks = []
        for ordinal, (start, end) in enumerate(spans):
            section = layout.section_at(start)
            lines = _line_span(newlines, start, end) if newlines is not None else (None, None)
            chunks.append(
                Chunk(
                    document.doc_id,
                    ordinal,
                    start,
                    end,
                    text[start:end],
                    section=section.label if section else None,
                    page=layout.page_at(start),
                    line_start=lines[0],
                    line_end=lines[1],
                )
            )
        return chunks

    def _spans(self, text: str, config: ChunkingConfig, base: int = 0) -> list[tuple[int, int]]:
        """Character spans of the chunks of ``text``, shifted by ``base``, in order."""
        size = min(config.chunk_tokens, self.budget)
        overlap = min(config.overlap, size // 2)
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        windows = list(_windows(encoding, size, overlap))
        spans: list[tuple[int, int]] = []
        for i, (start, end) in enumerate(windows):
            fitted = end
            while fitted > start and not self.fits(text[start:fitted]):
                fitted = _shrink(encoding, start, fitted)
            if fitted <= start:
                raise ValueError(f"cannot fit any text at offset {base + start} in a chunk")
            spans.append((base + start, base + fitted))
            # Text a shrunk window gave up, when the next window does not cover it.
            uncovered_end = min(end, windows[i + 1][0]) if i + 1 < len(windows) else end
            if fitted < uncovered_end and text[fitted:uncovered_end].strip():
                spans.extend(self._spans(text[fitted:uncovered_end], config, base + fitted))
        return sorted(spans)


def _word_start(encoding: Encoding, index: int) -> int:
    """Move ``index`` back to the first token of the word it belongs to (not below 0)."""
    words = encoding.word_ids
    while index > 0 and words[index] is not None and words[index - 1] == words[index]:
        index -= 1
    return index


def _windows(encoding: Encoding, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Character spans of token windows of ``size`` tokens that overlap by ``overlap``."""
    offsets = encoding.offsets
    total = len(offsets)
    first = 0
    while first < total:
        last = min(first + size, total)
        if last < total:
            cut = _word_start(encoding, last)
            last = cut if cut > first else last
        yield offsets[first][0], offsets[last - 1][1]
        if last >= total:
            return
        following = _word_start(encoding, max(last - overlap, first + 1))
        first = following if following > first else last


def _shrink(encoding: Encoding, start: int, end: int) -> int:
    """A smaller end offset than ``end`` for a window starting at ``start``: one word less."""
    offsets = encoding.offsets
    inside = [i for i, (s, e) in enumerate(offsets) if s >= start and e <= end]
    if len(inside) <= 1:
        return start
    cut = _word_start(encoding, inside[-1])
    if cut <= inside[0]:
        cut = inside[-1]
    return offsets[cut - 1][1]


def _newlines(text: str) -> list[int]:
    return [match.start() for match in re.finditer("\n", text)]


def _line_span(newlines: list[int], start: int, end: int) -> tuple[int, int]:
    """1-based first and last line of ``text[start:end]``."""
    first = bisect.bisect_left(newlines, start) + 1
    last = bisect.bisect_left(newlines, max(start, end - 1)) + 1
    return first, last
