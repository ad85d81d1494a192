"""The BM25 matrix tasksift builds with numpy is bm25s's own, on any corpus."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasksift.lexical.analyzer import Analyzer
from tasksift.lexical.matrix import bm25_matrix
from tasksift.lexical.record import Bm25Params
from tasksift.lexical.scorer import LexicalIndex
from tasksift.lexical.terms import TermLists, TermStore

corpora = st.lists(
    st.lists(st.integers(0, 30), min_size=0, max_size=25),  # a document: term ids
    min_size=1,
    max_size=40,
)


def reference(documents: list[list[int]], params: Bm25Params) -> tuple[dict, int]:
    """bm25s's own index of the same documents (its vocabulary: the term ids as words)."""
    retriever = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
    vocabulary = {str(t): t for t in range(31)}
    retriever.index((documents, vocabulary), show_progress=False)
    return retriever.scores, len(vocabulary)


@settings(max_examples=60, deadline=None)
@given(documents=corpora, k1=st.sampled_from([0.9, 1.2, 2.0]), b=st.sampled_from([0.0, 0.75]))
def test_matrix_equals_bm25s(documents: list[list[int]], k1: float, b: float) -> None:
    params = Bm25Params(k1=k1, b=b)
    ids = np.asarray([t for d in documents for t in d], dtype=np.uint32)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in documents])]).astype(np.int64)
    data, indices, indptr = bm25_matrix(ids, offsets, 31, params)
    expected, _ = reference(documents, params)
    np.testing.assert_array_equal(indptr, expected["indptr"])
    for term in range(31):  # within a column, rows may come in any order
        span = slice(int(indptr[term]), int(indptr[term + 1]))
        ours = dict(zip(indices[span].tolist(), data[span].tolist(), strict=True))
        theirs = dict(
            zip(expected["indices"][span].tolist(), expected["data"][span].tolist(), strict=True)
        )
        assert ours.keys() == theirs.keys()
        assert list(ours.values()) == pytest.approx([theirs[r] for r in ours], abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    texts=st.lists(
        st.lists(
            st.sampled_from(["river", "bank", "loan", "floods", "erosion", "the"]), max_size=12
        ).map(" ".join),
        min_size=1,
        max_size=15,
    ),
    query=st.sampled_from(["river bank", "bank loan", "floods and erosion", "nothing here"]),
)
def test_written_and_reopened_matrix_scores_like_bm25s(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str], query: str
) -> None:
    """A store's matrix, saved and reopened with numpy alone, scores as bm25s retrieves."""
    folder = tmp_path_factory.mktemp("lexical") / "lexical"
    store = TermStore(Analyzer.for_language("english"), Bm25Params())
    rows = store.analyze(texts)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    flat = np.concatenate(rows).astype(np.uint32) if rows else np.zeros(0, np.uint32)
    record = store.write(folder, TermLists(flat, offsets))
    opened = LexicalIndex.open(folder, record, len(texts))
    ours = opened.scores(query)

    retriever = bm25s.BM25.load(str(folder), mmap=False)
    terms = [t for t in store.analyzer.terms(query) if t in retriever.vocab_dict]
    theirs = (
        retriever.get_scores([retriever.vocab_dict[t] for t in terms])
        if terms
        else np.zeros(len(texts))
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_a_damaged_vocabulary_is_refused(tmp_path: Path) -> None:
    from tasksift.errors import CorruptIndexError

    folder = tmp_path / "lexical"
    store = TermStore(Analyzer.for_language("english"), Bm25Params())
    rows = store.analyze(["river bank", "bank loan"])
    record = store.write(folder, TermLists(np.concatenate(rows), np.array([0, 2, 4])))
    vocab = folder / "vocab.index.json"
    vocab.write_text(json.dumps({"river": 0}).ljust(vocab.stat().st_size))  # same size
    with pytest.raises(CorruptIndexError, match="rebuild"):
        LexicalIndex.open(folder, record, 2)
