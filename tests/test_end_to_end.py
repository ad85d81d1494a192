"""The real CLI, as a subprocess, with the real bundled all-MiniLM-L6-v2."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import run_cli, sidecar_parts

QUERIES = {
    "what does a lender look at before approving a loan for a company": "money/loan-approval.md",
    "plants that keep the edge of a river from washing away": "nature/riverbank-erosion.md",
    "my egg and oil sauce curdled, how do I fix it": "kitchen/mayonnaise.md",
    "how do I know if I am not drinking enough water": "health/dehydration.md",
    "rodents that build dams from branches": "nature/beaver-dams.txt",
    "how immunisation creates memory cells": "health/vaccines.txt",
}


def test_index_reports_a_summary(built_index: Path) -> None:
    generations = [p for p in built_index.iterdir() if p.name.startswith("gen-")]
    assert len(generations) == 1
    assert {p.name for p in generations[0].iterdir()} == {
        "vectors.hnsw",
        "parts",
        "manifest.json",
        "lexical",
    }


@pytest.mark.parametrize(("query", "expected"), QUERIES.items())
def test_relevant_document_ranks_first(built_index: Path, query: str, expected: str) -> None:
    result = run_cli("search", query, "--index", built_index, "-k", "3")
    assert result.code == 0, result.stderr
    hits = result.jsonl()  # stdout is not a terminal: JSON Lines by default
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["doc_id"] == expected
    assert hits[0]["score"] > hits[1]["score"]


def test_search_formats(built_index: Path) -> None:
    query = "cooking rice on the stove"
    as_json = run_cli("search", query, "-i", built_index, "-k", "2", "--format", "json")
    as_tsv = run_cli("search", query, "-i", built_index, "-k", "2", "--format", "tsv")
    as_table = run_cli(
        "search", query, "-i", built_index, "-k", "2", "--format", "table", env={"COLUMNS": "160"}
    )
    assert as_json.code == as_tsv.code == as_table.code == 0
    document = json.loads(as_json.stdout)
    assert document["query"] == query
    assert document["results"][0]["doc_id"] == "kitchen/rice.txt"
    rows = [line.split("\t") for line in as_tsv.stdout.splitlines()]
    assert [r[:2] for r in rows] == [["1", "kitchen/rice.txt"], ["2", rows[1][1]]]
    assert float(rows[0][2]) == pytest.approx(document["results"][0]["score"], abs=1e-6)
    assert "kitchen/rice.txt" in as_table.stdout and "rice" in as_table.stdout.splitlines()[0]


def test_snippet_is_the_chunk_text_at_its_offsets(built_index: Path, corpus: Path) -> None:
    hit = run_cli("search", "beaver ponds", "-i", built_index, "-k", "1").jsonl()[0]
    source = (corpus / hit["path"]).read_text(encoding="utf-8")
    assert source[hit["start"] : hit["end"]] == hit["snippet"]


def test_index_is_found_from_a_subfolder_and_from_the_environment(
    tmp_path: Path, corpus: Path
) -> None:
    assert run_cli("index", corpus, "--quiet").code == 0  # default: CORPUS/.tasksift
    found = run_cli("search", "credit score", "-k", "1", cwd=corpus / "money")
    assert found.code == 0, found.stderr
    assert found.jsonl()[0]["doc_id"] == "money/credit-score.txt"
    from_env = run_cli(
        "info", "--format", "json", cwd=tmp_path, env={"TASKSIFT_INDEX": str(corpus / ".tasksift")}
    )
    assert from_env.code == 0, from_env.stderr
    assert json.loads(from_env.stdout)["documents"] == 8


def test_info_shows_the_metadata(built_index: Path) -> None:
    result = run_cli("info", "--index", built_index, "--format", "json")
    assert result.code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["model"]["dimension"] == 384
    assert info["model"]["max_seq_length"] == 256
    assert info["model"]["fingerprint"].startswith("sha256:")
    assert info["task"] == "retrieval"
    assert info["documents"] == 8
    assert info["chunks"] >= 8
    assert info["hnsw"] == {"space": "cosine", "M": 16, "ef_construction": 200, "ef": 100}
    assert info["files"]["vectors.hnsw"] > 0
    table = run_cli("info", "--index", built_index, "--format", "table")
    assert "all-MiniLM-L6-v2" in table.stdout and "retrieval" in table.stdout


def test_parquet_metadata_is_readable_with_pyarrow_alone(built_index: Path) -> None:
    sidecar = sidecar_parts(built_index)[0]
    manifest = json.loads(pq.read_schema(sidecar).metadata[b"tasksift"])
    assert manifest["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["task"] == "retrieval"
    assert manifest["prompts"]["query"] == ""
    assert manifest["prompts"]["document"] == ""
    for key in ("format_version", "tool_version", "chunking", "hnsw", "created_at", "corpus_root"):
        assert key in manifest
    table = pq.read_table(sidecar)
    assert table.num_rows == manifest["chunks"]
    assert table.column("label").to_pylist() == list(range(table.num_rows))
    assert set(table.column("doc_id").to_pylist()) == {
        "money/loan-approval.md",
        "money/credit-score.txt",
        "nature/riverbank-erosion.md",
        "nature/beaver-dams.txt",
        "kitchen/mayonnaise.md",
        "kitchen/rice.txt",
        "health/dehydration.md",
        "health/vaccines.txt",
    }


def test_small_chunks_give_one_hit_per_document(tmp_path: Path, corpus: Path) -> None:
    index = tmp_path / "small"
    built = run_cli("index", corpus, "-i", index, "--chunk-tokens", "24", "--overlap", "4")
    assert built.code == 0, built.stderr
    info = json.loads(run_cli("info", "-i", index, "-f", "json").stdout)
    assert info["chunks"] > 3 * info["documents"]
    documents = run_cli("search", "river bank erosion", "-i", index, "-k", "5").jsonl()
    assert len({h["doc_id"] for h in documents}) == 5
    assert documents[0]["doc_id"] == "nature/riverbank-erosion.md"
    chunks = run_cli("search", "river bank erosion", "-i", index, "-k", "5", "--chunks").jsonl()
    assert len(chunks) == 5
    assert len({h["doc_id"] for h in chunks}) < 5  # the erosion document owns several
