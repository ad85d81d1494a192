"""Rows grouped by document (``index.rows.DocumentRows``), on random groupings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tasksift.index.rows import DocumentRows

doc_ids = st.lists(st.sampled_from(["a.md", "b.pdf", "c/d.txt", "é.html", "z"]), max_size=40)


@settings(max_examples=100, deadline=None)
@given(ids=doc_ids)
def test_each_row_belongs_to_its_document(ids: list[str]) -> None:
    rows = DocumentRows.of(ids)
    assert list(rows.ids) == sorted(set(ids))
    for document, name in enumerate(rows.ids):
        mine = rows.rows_of(document)
        assert sorted(mine.tolist()) == [r for r, d in enumerate(ids) if d == name]
        assert np.all(rows.codes[mine] == document)


@settings(max_examples=100, deadline=None)
@given(ids=doc_ids.filter(bool), data=st.data())
def test_rows_of_many_lists_each_documents_rows_in_turn(
    ids: list[str], data: st.DataObject
) -> None:
    rows = DocumentRows.of(ids)
    chosen = data.draw(st.lists(st.integers(0, len(rows.ids) - 1), min_size=1, unique=True))
    flat, begins = rows.rows_of_many(np.asarray(chosen))
    ends = [*begins[1:].tolist(), len(flat)]
    for document, begin, end in zip(chosen, begins.tolist(), ends, strict=True):
        assert flat[begin:end].tolist() == rows.rows_of(document).tolist()


@settings(max_examples=50, deadline=None)
@given(ids=doc_ids, split=st.integers(0, 40))
def test_from_a_dictionary_encoded_column_as_from_strings(ids: list[str], split: int) -> None:
    """The Arrow files hold the doc_id column dictionary-encoded, in several chunks."""
    encoded = [
        pa.array(part, pa.string()).dictionary_encode() for part in (ids[:split], ids[split:])
    ]
    column = pa.chunked_array([c for c in encoded if len(c)] or [pa.array([], pa.string())])
    ours, plain = DocumentRows.of_column(column), DocumentRows.of(ids)
    assert list(ours.ids) == list(plain.ids)
    assert ours.codes.tolist() == plain.codes.tolist()
