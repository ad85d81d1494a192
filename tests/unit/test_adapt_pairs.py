"""Training pairs for `tasksift adapt`: pseudo-queries from chunks, given pairs, the split."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasksift.adapt.pairs import Pair, pseudo_queries, read_pairs, split_held_out
from tasksift.errors import InputError

PASSAGE = (
    "Banks look at cash flow first. A lender reads two years of statements before it decides "
    "anything at all. Collateral matters when the cash flow is thin or uneven over the year. "
    "The committee then approves, declines, or approves the loan with conditions attached."
)
ROWS = [
    {"doc_id": "a.md", "ordinal": 0, "section": "Loans explained > How banks approve loans",
     "text": PASSAGE},
    {"doc_id": "a.md", "ordinal": 1, "section": "Loans explained > How banks approve loans",
     "text": "a second chunk of the same section"},
    {"doc_id": "b.txt", "ordinal": 0, "section": None, "text": "Too short. To hold out."},
]  # fmt: skip


def test_headings_titles_and_held_out_sentences() -> None:
    pairs = pseudo_queries(ROWS, seed=1)
    kinds = {(p.kind, p.query) for p in pairs}
    assert ("title", "Loans explained") in kinds
    assert ("heading", "How banks approve loans") in kinds
    assert sum(p.kind == "heading" for p in pairs) == 1  # a section's first chunk only
    (held,) = [p for p in pairs if p.kind == "sentence"]
    assert held.query in PASSAGE and held.query not in held.text
    assert all(p.group != "b.txt" for p in pairs)  # nothing fits in a short chunk


def test_given_pairs_tsv_and_jsonl(tmp_path: Path) -> None:
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("how banks decide\tA lender reads statements.\n\n")
    assert read_pairs(tsv, ROWS) == [
        Pair("how banks decide", "A lender reads statements.", "given:A lender reads statements.",
             "given")]  # fmt: skip
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"query": "loans", "doc_id": "a.md"}\n{"query": "q", "text": "t"}\n')
    first, second = read_pairs(jsonl, ROWS)
    assert (first.text, first.group) == (PASSAGE, "a.md")
    assert (second.query, second.text) == ("q", "t")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.tsv", "no tab here\n", "p.tsv:1: expected query<TAB>passage"),
        ("p.jsonl", '{"query": "x", "doc_id": "nope"}\n', "'nope' is not in the index"),
        ("p.jsonl", "[1, 2]\n", "expected a JSON object"),
        ("p.tsv", "\n\n", "no pairs in"),
    ],
)
def test_bad_pairs_name_the_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        read_pairs(path, ROWS)


def test_the_held_out_split_keeps_documents_apart() -> None:
    pairs = [Pair(f"q{i}", f"t{i}", f"doc{i % 20}", "sentence") for i in range(100)]
    training, held = split_held_out(pairs, 0.1, limit=7, seed=3)
    assert len(held) == 7
    assert not {p.group for p in training} & {p.group for p in held}
    assert len(training) == 90
