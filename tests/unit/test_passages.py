"""Passages and locations of hits: what a person reads in a table or a JSON record."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tasksift.output.hits import location
from tasksift.output.passages import SNIPPET_CHARS, best_passage_start, query_terms, snippet
from tasksift.search.hits import Hit

TEXT = (
    "Sedges grow in shallow water. Willows hold a river bank together. "
    "Their roots stop erosion of the bank during floods."
)


def test_query_terms_drop_short_words_and_stopwords() -> None:
    assert query_terms("How does a river bank stop ERODING?") == [
        "river",
        "bank",
        "stop",
        "eroding",
    ]


def test_the_passage_starts_at_the_sentence_with_most_query_words() -> None:
    start = best_passage_start(TEXT, query_terms("roots and erosion of a bank"))
    assert TEXT[start:].lstrip().startswith("Their roots stop erosion")


def test_no_matching_word_starts_at_the_beginning() -> None:
    assert best_passage_start(TEXT, ["zebra"]) == 0


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=0, max_size=2000), words=st.lists(st.text(min_size=3, max_size=8)))
def test_a_snippet_is_one_line_of_about_the_width(text: str, words: list[str]) -> None:
    shown = snippet(text, words)
    assert "\n" not in shown
    assert len(shown) <= SNIPPET_CHARS + 4  # the width and an ellipsis with its space
    if text.split() and len(" ".join(text.split())) <= SNIPPET_CHARS:
        assert shown == " ".join(text.split())


def _hit(**where: object) -> Hit:
    fields = {"line_start": None, "line_end": None, "page": None, "section": None}
    place = {"rank": 1, "doc_id": "a", "path": "notes/a.md", "score": 1.0, "label": 0}
    return Hit(**place, ordinal=0, start=10, end=90, text="...", **(fields | where))


def test_a_location_is_a_line_then_a_page_then_offsets() -> None:
    assert location(_hit(line_start=12, line_end=20, page=3)) == "notes/a.md:12"
    assert location(_hit(page=3)) == "notes/a.md p.3"
    assert location(_hit()) == "notes/a.md chars 10-90"
