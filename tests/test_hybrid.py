"""Hybrid search: the lexical side beside the vectors, fused by default, explained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import (
    assert_one_line_error,
    invoke,
    live_generation,
    run_cli,
    sidecar_parts,
    to_format_1,
    tree_digest,
)


def _search(capsys: pytest.CaptureFixture[str], index: Path, query: str, *flags: str) -> list:
    result = invoke(capsys, "search", query, "-i", index, "-f", "jsonl", *flags)
    assert result.code == 0, result.stderr
    return result.jsonl()


def test_lexical_side_is_recorded_like_the_prompts(built_index: Path) -> None:
    import pyarrow.parquet as pq

    info = json.loads(run_cli("info", "-i", built_index, "-f", "json").stdout)
    lexical = info["lexical"]
    assert lexical["analyzer"]["language"] == "english"
    assert lexical["analyzer"]["stemmer"] == "snowball:english"
    assert lexical["analyzer"]["stopwords"] == "bm25s:english"
    assert lexical["bm25"] == {"k1": 1.2, "b": 0.75, "method": "lucene"}
    assert lexical["engine"].startswith("bm25s ")
    assert info["files"]["lexical"] == sum(lexical["files"].values()) > 0
    embedded = json.loads(pq.read_schema(sidecar_parts(built_index)[0]).metadata[b"tasksift"])
    assert embedded["lexical"]["analyzer"] == lexical["analyzer"]  # what makes the terms
    assert embedded["lexical"]["bm25"] == lexical["bm25"]


def test_hybrid_is_the_default_and_each_mode_answers(
    built_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "beaver dams slow the water"
    hybrid = _search(capsys, built_index, query, "--explain", "-k", "3")
    assert hybrid[0]["doc_id"] == "nature/beaver-dams.txt"
    why = hybrid[0]["explain"]
    assert why["dense_rank"] == 1 and why["lexical_rank"] == 1
    assert why["fused_score"] == hybrid[0]["score"]
    assert {"beaver", "dams", "water"} <= set(why["matched_terms"])
    lexical = _search(capsys, built_index, query, "--mode", "lexical", "--explain")
    assert lexical[0]["doc_id"] == "nature/beaver-dams.txt"
    assert lexical[0]["explain"]["dense_score"] is None
    assert all(h["score"] > 0 for h in lexical)  # only chunks that share a term
    dense = _search(capsys, built_index, query, "--mode", "dense", "-k", "8")
    assert len(dense) == 8 and "explain" not in dense[0]


def test_explain_table_shows_both_sides(built_index: Path) -> None:
    result = run_cli(
        "search", "vaccine memory cells", "-i", built_index, "-f", "table", "--explain", "-k", "2",
        env={"COLUMNS": "160"},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "dense #1" in result.stdout and "lexical #1" in result.stdout
    assert "matched: vaccine, memory, cells" in result.stdout


def test_a_rare_identifier_is_found_by_the_lexical_side(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "money" / "ledger.txt").write_text(
        "The nightly export failed with error ZX-4471 after the ledger job ran out of disk."
    )
    assert invoke(capsys, "index", corpus, "-i", indexed, "-q").code == 0
    for mode in ("hybrid", "lexical"):
        hits = _search(capsys, indexed, "ZX-4471", "--mode", mode, "-k", "1")
        assert hits[0]["doc_id"] == "money/ledger.txt", mode


def test_filters_apply_inside_the_lexical_side(
    built_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for mode in ("hybrid", "lexical"):
        hits = _search(capsys, built_index, "bank", "--mode", mode, "--path", "nature/*")
        assert hits and {h["doc_id"].split("/")[0] for h in hits} == {"nature"}
        typed = _search(capsys, built_index, "bank", "--mode", mode, "--type", "md")
        assert typed and all(h["doc_id"].endswith(".md") for h in typed)


def test_long_query_is_answered_with_a_note(built_index: Path) -> None:
    query = "how do beaver dams change a river " * 60
    result = run_cli("search", query, "-i", built_index, "-k", "2", "-f", "jsonl")
    assert result.code == 0, result.stderr
    assert "dense side uses the first 256" in result.stderr
    assert result.jsonl()[0]["doc_id"] == "nature/beaver-dams.txt"


def _strip_lexical_side(index: Path) -> None:
    """Make ``index`` look like one built before tasksift had a lexical side."""
    to_format_1(index, lexical=False)


def test_index_without_lexical_side_keeps_working_and_gains_one(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasksift.pipeline.model

    _strip_lexical_side(indexed)
    assert not (live_generation(indexed) / "lexical").exists()
    old = invoke(capsys, "search", "beaver dams", "-i", indexed, "-f", "jsonl")
    assert old.code == 0 and old.jsonl()[0]["doc_id"] == "nature/beaver-dams.txt"
    assert len([line for line in old.stderr.splitlines() if line.strip()]) == 1
    assert "no lexical side" in old.stderr
    refused = invoke(capsys, "search", "beaver", "-i", indexed, "--mode", "lexical")
    assert_one_line_error(refused)
    assert refused.code == 3 and "tasksift index" in refused.stderr

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded to add the lexical side")

    monkeypatch.setattr(tasksift.pipeline.model, "load_embedder", no_model)
    vectors = (live_generation(indexed) / "vectors.hnsw").read_bytes()
    added = invoke(capsys, "index", corpus, "-i", indexed)
    assert added.code == 0, added.stderr
    assert "added the lexical (BM25) side" in added.stderr and "0 embedded" in added.stdout
    assert (live_generation(indexed) / "vectors.hnsw").read_bytes() == vectors
    hits = _search(capsys, indexed, "beaver dams", "--mode", "lexical")
    assert hits[0]["doc_id"] == "nature/beaver-dams.txt"


def test_update_with_another_analyzer_is_refused_unless_rebuilt(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(indexed)
    refused = invoke(capsys, "index", corpus, "-i", indexed, "--language", "french")
    assert_one_line_error(refused)
    assert refused.code == 3 and "--rebuild" in refused.stderr
    unknown = invoke(capsys, "index", corpus, "-i", indexed, "--language", "klingon")
    assert_one_line_error(unknown)
    assert unknown.code == 2 and "english" in unknown.stderr
    assert tree_digest(indexed) == before
    same = invoke(capsys, "index", corpus, "-i", indexed, "--language", "English", "-q")
    assert same.code == 0, same.stderr
    rebuilt = invoke(capsys, "index", corpus, "-i", indexed, "--language", "french", "--rebuild")
    assert rebuilt.code == 0, rebuilt.stderr
    info = json.loads(invoke(capsys, "info", "-i", indexed, "-f", "json").stdout)
    assert info["lexical"]["analyzer"]["stemmer"] == "snowball:french"


def _best_lexical_scores(index: Path, query: str) -> dict[str, float]:
    from tasksift.index.reader import load_index

    loaded = load_index(index, lexical=True)
    scores = loaded.lexical.scores(query)
    best: dict[str, float] = {}
    for doc_id, score in zip(loaded.column("doc_id").to_pylist(), scores, strict=True):
        best[doc_id] = max(best.get(doc_id, 0.0), float(score))
    return best


def test_incremental_lexical_side_equals_a_fresh_build(
    corpus: Path, indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "kitchen" / "rice.txt").write_text("Brown rice needs more water than white rice.")
    (corpus / "kitchen" / "tea.md").write_text("Green tea steeps for two minutes near a river.")
    (corpus / "health" / "vaccines.txt").unlink()
    assert invoke(capsys, "index", corpus, "-i", indexed, "-q").code == 0
    fresh = tmp_path / "fresh"
    assert invoke(capsys, "index", corpus, "-i", fresh, "-q").code == 0
    for query in ("rice water", "river bank erosion", "tea", "vaccine"):
        updated, rebuilt = _best_lexical_scores(indexed, query), _best_lexical_scores(fresh, query)
        assert updated.keys() == rebuilt.keys()
        for doc_id, score in rebuilt.items():
            assert updated[doc_id] == pytest.approx(score, rel=1e-5), (query, doc_id)


def test_damaged_lexical_side_is_refused(index_copy: Path) -> None:
    terms = live_generation(index_copy) / "lexical" / "data.csc.index.npy"
    terms.write_bytes(terms.read_bytes()[:-8])
    result = run_cli("search", "beaver", "-i", index_copy)
    assert_one_line_error(result)
    assert result.code == 5 and "lexical" in result.stderr
    dense = run_cli("search", "beaver", "-i", index_copy, "--mode", "dense", "-f", "jsonl")
    assert dense.code == 0, dense.stderr


def test_eval_all_modes_and_unanswered_queries_count_zero(
    built_index: Path, tmp_path: Path
) -> None:
    queries = tmp_path / "q.tsv"
    queries.write_text("b\tbeaver dams on a river\nm\twhy does mayonnaise split\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("b 0 nature/beaver-dams.txt 1\nm 0 kitchen/mayonnaise.md 1\n")
    result = run_cli("eval", "-Q", queries, "--qrels", qrels, "-i", built_index,
                     "--mode", "all", "-f", "json")  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report["runs"]) == ["hybrid", "dense", "lexical"]
    assert report["runs"]["hybrid"]["nDCG@10"] == pytest.approx(1.0)
    qrels.write_text(qrels.read_text() + "missing 0 money/credit-score.txt 1\n")
    partial = run_cli("eval", "-Q", queries, "--qrels", qrels, "-i", built_index, "-f", "json")
    report = json.loads(partial.stdout)
    assert report["queries"] == 3 and report["unanswered"] == 1
    assert report["runs"]["hybrid"]["nDCG@10"] == pytest.approx(2 / 3)


def test_analyzer_keeps_every_script() -> None:
    from tasksift.lexical.analyzer import Analyzer

    english = Analyzer()
    assert english.terms("The runners were running to the café") == [
        "runner",
        "were",
        "run",
        "cafe",
    ]
    assert english.terms("東京の天気") == ["東京", "京の", "の天", "天気"]
    assert english.terms("Ελληνικά και русский текст 42") == [
        "ελληνικα",
        "και",
        "русскии",
        "текст",
        "42",
    ]
    french = Analyzer.for_language("french")
    assert french.terms("Les élèves mangeaient des pommes") == ["elev", "mang", "pomm"]
    assert Analyzer.for_language("none").terms("The Cats") == ["the", "cats"]
    with pytest.raises(ValueError, match="english"):
        Analyzer.for_language("klingon")


def test_copy_of_index_without_lexical_files_fails_cleanly(index_copy: Path) -> None:
    shutil.rmtree(live_generation(index_copy) / "lexical")
    result = run_cli("search", "beaver", "-i", index_copy, "--mode", "lexical")
    assert_one_line_error(result)
    assert result.code == 5


@pytest.mark.parametrize("header", [96, 100], ids=["mapped", "unexpected-layout"])
def test_vectors_read_from_the_graph_file_equal_hnswlib_own(
    index_copy: Path, monkeypatch: pytest.MonkeyPatch, header: int
) -> None:
    import numpy as np

    import tasksift.index.hnsw_file
    from tasksift.index.reader import load_index

    monkeypatch.setattr(tasksift.index.hnsw_file, "HNSW_HEADER_BYTES", header)
    loaded = load_index(index_copy)
    labels = loaded.labels[::-1]
    assert (loaded.vectors.matrix is not None) == (header == 96)  # else get_items serves
    np.testing.assert_array_equal(loaded.vectors.of(labels), loaded.graph.get_items(labels))


class _UnreachableGraph:
    """An hnswlib graph that cannot return as many neighbours as asked for, as an updated
    graph whose elements were replaced in place sometimes cannot."""

    def __init__(self, graph: object) -> None:
        self._graph = graph

    def knn_query(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("Cannot return the results in a contiguous 2D array")

    def __getattr__(self, name: str) -> object:
        return getattr(self._graph, name)


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_a_graph_that_returns_too_few_neighbours_falls_back_to_exact(
    built_index: Path, mode: str
) -> None:
    from dataclasses import replace as replaced

    from tasksift.options import SearchMode, SearchRequest
    from tasksift.search.searcher import Searcher

    searcher = Searcher.open(built_index, SearchRequest(), mode=SearchMode(mode))
    expected = [h.doc_id for h in searcher.search(["beaver dams"], 5, exact=True)[0]]
    searcher.index = replaced(searcher.index, built_graph=_UnreachableGraph(searcher.index.graph))
    found = searcher.search(["beaver dams"], 5)[0]
    assert [h.doc_id for h in found] == expected


def test_adaptive_fusion_is_recorded_shown_and_overridden(
    built_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = json.loads(run_cli("info", "-i", built_index, "-f", "json").stdout)
    rule = info["fusion"]
    assert rule["method"] == "adaptive" and rule["low"] < rule["base"] < rule["high"]
    query = "beaver dams slow the water"
    adaptive = _search(capsys, built_index, query, "--explain", "-k", "3")
    weights = {h["explain"]["fusion_weight"] for h in adaptive}
    assert len(weights) == 1  # one weight per query
    (weight,) = weights
    assert rule["low"] <= weight <= rule["high"]
    reason = adaptive[0]["explain"]["weight_reason"]
    assert reason.startswith("adaptive") and "dense peak" in reason and "lexical peak" in reason
    fixed = _search(capsys, built_index, query, "--explain", "--alpha", "0.2", "-k", "3")
    assert {h["explain"]["fusion_weight"] for h in fixed} == {0.2}
    assert "fixed" in fixed[0]["explain"]["weight_reason"]
    convex = _search(capsys, built_index, query, "--explain", "--fusion", "convex", "-k", "1")
    assert convex[0]["explain"]["fusion_weight"] == 0.7
    rrf = _search(capsys, built_index, query, "--explain", "--fusion", "rrf", "-k", "1")
    assert rrf[0]["explain"]["fusion_weight"] is None
    refused = invoke(capsys, "search", query, "-i", built_index, "--fusion", "adaptive",
                     "--alpha", "0.3")  # fmt: skip
    assert refused.code == 2 and "--alpha" in refused.stderr
    assert_one_line_error(refused)


def test_relevance_on_each_hit_and_min_relevance(
    built_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "beaver dams slow the water"
    for mode in ("hybrid", "dense", "lexical"):
        hits = _search(capsys, built_index, query, "--mode", mode, "-k", "5")
        relevance = [h["relevance"] for h in hits]
        assert all(0.0 <= p <= 1.0 for p in relevance), mode
    hits = _search(capsys, built_index, query, "-k", "5")
    low, high = sorted({h["relevance"] for h in hits})[1:3]
    floor = (low + high) / 2  # between two hits' relevance: no rounding at the boundary
    kept = _search(capsys, built_index, query, "-k", "5", "--min-relevance", str(floor))
    assert [h["doc_id"] for h in kept] == [h["doc_id"] for h in hits if h["relevance"] >= floor]
    none = invoke(capsys, "search", query, "-i", built_index, "-f", "jsonl",
                  "--min-relevance", "1")  # fmt: skip
    assert (none.code, none.stdout) == (10, "")  # not an error: exit 10 and a note
    assert none.stderr.strip() == "note: no hit reaches relevance 1"
