"""Token-window chunking with the model's own tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from tasksift.chunks import Chunker
from tasksift.documents import Document
from tasksift.options import ChunkingConfig

LONG = (
    Path(__file__).parent / "data" / "mini_corpus" / "nature" / "riverbank-erosion.md"
).read_text()


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path) -> Tokenizer:
    return Tokenizer.from_file(str(minilm_path / "tokenizer.json"))


def _covered(text: str, chunks: list) -> bool:
    seen = [False] * len(text)
    for chunk in chunks:
        for i in range(chunk.start, chunk.end):
            seen[i] = True
    return all(seen[i] or text[i].isspace() for i in range(len(text)))


@pytest.mark.parametrize(("size", "overlap"), [(16, 0), (16, 4), (32, 8), (254, 32)])
def test_chunks_fit_cover_and_overlap(tokenizer: Tokenizer, size: int, overlap: int) -> None:
    chunker = Chunker(tokenizer, max_seq_length=256, document_prompt="passage: ")
    text = LONG * 3
    chunks = chunker.chunk(Document("d", text), ChunkingConfig(size, overlap))
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunker.count_tokens(chunk.text) <= size + 1  # word-boundary snapping
        assert chunker.fits(chunk.text)
    assert _covered(text, chunks)
    if overlap:
        assert all(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))


def test_window_never_exceeds_the_model_after_the_prompt(tokenizer: Tokenizer) -> None:
    prompt = "Represent this sentence for searching relevant passages: "
    chunker = Chunker(tokenizer, max_seq_length=64, document_prompt=prompt)
    assert chunker.budget == 64 - chunker.count_tokens(prompt, special=True)
    chunks = chunker.chunk(Document("d", LONG * 2), ChunkingConfig(10_000, 8))
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunker.count_tokens(prompt + chunk.text, special=True) <= 64


def test_a_short_document_is_one_chunk(tokenizer: Tokenizer) -> None:
    chunker = Chunker(tokenizer, 256, "")
    chunks = chunker.chunk(Document("d", "  Short text.\n"), ChunkingConfig(100, 10))
    assert [(c.start, c.end, c.text) for c in chunks] == [(2, 13, "Short text.")]


def test_chunk_boundaries_fall_between_words(tokenizer: Tokenizer) -> None:
    text = "unbelievably " * 200  # several word pieces per word
    chunker = Chunker(tokenizer, 256, "")
    chunks = chunker.chunk(Document("d", text), ChunkingConfig(20, 5))
    assert len(chunks) > 10  # the text is cut, many times
    for chunk in chunks:
        assert chunk.text.startswith("unbelievably") and chunk.text.endswith("unbelievably")


def test_prompt_longer_than_the_model_is_refused(tokenizer: Tokenizer) -> None:
    from tasksift.errors import InputError

    with pytest.raises(InputError, match="prompt"):
        Chunker(tokenizer, 16, "word " * 20)


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=600), size=st.integers(8, 40), overlap=st.integers(0, 4))
def test_any_text_is_covered_within_the_limit(
    minilm_path: Path, text: str, size: int, overlap: int
) -> None:
    tokenizer = Tokenizer.from_file(str(minilm_path / "tokenizer.json"))
    chunker = Chunker(tokenizer, 48, "q: ")
    chunks = chunker.chunk(Document("d", text), ChunkingConfig(size, overlap))
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunker.fits(chunk.text)
    # Characters the tokenizer drops (whitespace, control characters) need no chunk.
    kept = chunker._tokenizer.encode(text, add_special_tokens=False).offsets
    for start, end in kept:
        assert any(c.start <= start and end <= c.end for c in chunks)
