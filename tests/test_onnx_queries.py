"""The index's ONNX embedder on a real index: the same vectors and rankings as torch, a
cold search without torch, one note on a fallback (searches and task commands alike)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke, run_cli

QUERIES = [
    "what does a lender look at before approving a loan",
    "plants that keep a river bank in place",
    "mayonnaise split",
    "how much water for a cup of rice",
    "signs that a child is dehydrated",
    "why do vaccines need boosters",
    "beaver dam flooding a road",
    "credit score factors",
    "¿qué es una vacuna?",
    "x",
    " ".join(["erosion of the outer bend of a meander"] * 50),  # longer than the model takes
]


def test_the_index_records_a_checked_onnx_embedder(built_index: Path) -> None:
    from tasksift.index.reader import read_manifest

    record = read_manifest(built_index).fast_path
    assert record.passed and record.min_cosine >= 0.9999
    assert (built_index / record.directory / "model.onnx").is_file()


def test_onnx_query_vectors_match_sentence_transformers(built_index: Path, minilm) -> None:
    from tasksift.index.reader import read_manifest
    from tasksift.onnx.embedder import open_onnx_embedder

    manifest = read_manifest(built_index)
    fast = open_onnx_embedder(built_index, manifest.fast_path)
    ours = fast.encode(QUERIES, manifest.prompts.query)
    reference = minilm.encode(QUERIES, normalize_embeddings=True)
    assert np.min(np.sum(ours * reference, axis=1)) >= 0.9999


def test_onnx_and_torch_rank_the_same(
    built_index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    queries = tmp_path / "queries.txt"
    queries.write_text("\n".join(QUERIES[:-1]) + "\n")  # the last is too long for a batch
    args = ("search", "-Q", queries, "-i", built_index, "-k", "8", "-f", "jsonl")
    fast = invoke(capsys, *args)
    monkeypatch.setenv("TASKSIFT_FAST_PATH", "0")
    torch = invoke(capsys, *args)
    assert fast.code == torch.code == 0, fast.stderr + torch.stderr
    assert "note:" not in fast.stderr
    for a, b in zip(fast.jsonl(), torch.jsonl(), strict=True):
        assert [h["doc_id"] for h in a["results"]] == [h["doc_id"] for h in b["results"]]
        for x, y in zip(a["results"], b["results"], strict=True):
            assert x["score"] == pytest.approx(y["score"], abs=1e-4)


def test_a_cold_search_on_onnx_imports_no_torch(built_index: Path) -> None:
    result = run_cli(
        "search", "beaver dams", "-i", built_index, "-k", "1", interpreter=("-X", "importtime")
    )
    assert result.code == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    forbidden = {"torch", "transformers", "sentence_transformers", "sklearn"}
    heavy = {m for m in imported if m.split(".")[0] in forbidden}
    assert not heavy, sorted(heavy)[:10]
    assert json.loads(result.stdout.splitlines()[-1])["doc_id"] == "nature/beaver-dams.txt"


@pytest.mark.parametrize("damage", ["truncated model", "wrong probe vector", "missing folder"])
def test_a_broken_export_falls_back_to_torch_once(
    index_copy: Path, tmp_path: Path, damage: str
) -> None:
    from tasksift.index.reader import read_manifest

    index = index_copy
    folder = index / read_manifest(index).fast_path.directory
    if damage == "truncated model":
        model = folder / "model.onnx"
        model.write_bytes(model.read_bytes()[:1000])
    elif damage == "wrong probe vector":
        check = json.loads((folder / "check.json").read_text())
        check["expected"] = list(-np.asarray(check["expected"]))
        (folder / "check.json").write_text(json.dumps(check))
    else:
        shutil.rmtree(folder)
    queries = tmp_path / "q.txt"
    queries.write_text("beaver dams\ncredit score\n")
    result = run_cli("search", "-Q", queries, "-i", index, "-k", "1")
    assert result.code == 0, result.stderr
    assert result.stderr.count("note: fast query path unavailable") == 1
    assert [a["results"][0]["doc_id"] for a in result.jsonl()] == [
        "nature/beaver-dams.txt",
        "money/credit-score.txt",
    ]


def test_a_task_command_on_torch_says_so_once(
    built_index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given texts are encoded as documents through the same fallback as queries."""
    args = ("similar", "--text", "beaver dams flood roads", "-i", built_index, "-k", "1")
    onnx = invoke(capsys, *args, "-f", "jsonl")
    monkeypatch.setenv("TASKSIFT_FAST_PATH", "0")
    torch = invoke(capsys, *args, "-f", "jsonl")
    assert onnx.code == torch.code == 0, onnx.stderr + torch.stderr
    assert "note:" not in onnx.stderr
    assert torch.stderr.count("note: document path on sentence-transformers") == 1
    assert onnx.jsonl()[0]["doc_id"] == torch.jsonl()[0]["doc_id"] == "nature/beaver-dams.txt"
