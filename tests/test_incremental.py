"""Updating an index: only what changed is embedded; nothing is ever lost or mixed."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import assert_one_line_error, invoke, run_cli, sidecar_table, tree_digest


def _info(capsys: pytest.CaptureFixture[str], index: Path) -> dict:
    result = invoke(capsys, "info", "-i", index, "-f", "json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _summary(result) -> dict[str, int]:
    """The counts of the one-line summary of `tasksift index`."""
    import re

    text = result.stdout
    return {
        key: int(re.search(rf"(\d+) {key}", text).group(1))
        for key in ("added", "changed", "removed", "unchanged", "embedded", "chunks")
    }


def _consistent(index: Path) -> dict:
    """Rows, manifest, live vectors and the lexical side agree; returns the manifest."""
    from tasksift.index.reader import load_index

    loaded = load_index(index, lexical=True)
    live = len(loaded.graph.get_ids_list()) - _deleted(loaded)
    assert loaded.sidecar.num_rows == loaded.manifest.chunks == live
    terms = sidecar_table(index).column("terms")
    assert len(terms) == loaded.manifest.chunks and terms.null_count == 0
    if loaded.manifest.complete:
        assert loaded.lexical.rows == loaded.sidecar.num_rows
    else:  # a checkpoint: the BM25 matrix is built once the run completes
        assert loaded.lexical is None and loaded.manifest.lexical.matrix is False
    return json.loads(loaded.manifest.to_json())


def _deleted(loaded) -> int:
    import numpy as np

    all_labels = np.asarray(loaded.graph.get_ids_list())
    return len(all_labels) - len(np.intersect1d(all_labels, loaded.labels))


def test_update_embeds_only_what_changed(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "kitchen" / "rice.txt").write_text("Brown rice needs forty minutes and more water.")
    (corpus / "kitchen" / "tea.md").write_text("Green tea is brewed at 80 degrees for two minutes.")
    (corpus / "health" / "vaccines.txt").unlink()
    loan = corpus / "money" / "loan-approval.md"
    os.utime(loan, ns=(loan.stat().st_atime_ns, loan.stat().st_mtime_ns + 10**9))  # touched only
    result = invoke(capsys, "index", corpus, "-i", indexed, "-q")
    assert result.code == 0, result.stderr
    counts = _summary(result)
    assert (counts["added"], counts["changed"], counts["removed"]) == (1, 1, 1)
    assert counts["unchanged"] == 6 and counts["embedded"] == 2
    info = _consistent(indexed)
    assert info["documents"] == 8 and info["complete"]
    tea = invoke(capsys, "search", "brewing green tea", "-i", indexed, "-k", "1", "-f", "jsonl")
    assert tea.jsonl()[0]["doc_id"] == "kitchen/tea.md"
    vaccine = invoke(capsys, "search", "vaccine memory cells", "-i", indexed, "-f", "jsonl")
    assert "health/vaccines.txt" not in {h["doc_id"] for h in vaccine.jsonl()}
    again = invoke(capsys, "index", corpus, "-i", indexed, "-q")
    assert _summary(again)["unchanged"] == 8  # the touched file's new mtime was recorded


def test_unchanged_corpus_loads_no_model_and_writes_nothing(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasksift.pipeline.model
    import tasksift.pipeline.writer

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded for an unchanged corpus")

    monkeypatch.setattr(tasksift.pipeline.model, "load_embedder", no_model)
    before = tree_digest(indexed)
    result = invoke(capsys, "index", corpus, "-i", indexed, "-q")
    assert result.code == 0, result.stderr
    assert _summary(result)["unchanged"] == 8 and _summary(result)["embedded"] == 0
    assert tree_digest(indexed) == before


def test_mismatched_update_is_refused_unless_rebuilt(
    corpus: Path, indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(indexed)
    other = tmp_path / "other"
    shutil.copytree(corpus, other)
    elsewhere = invoke(capsys, "index", other, "-i", indexed, "-q")
    assert_one_line_error(elsewhere)
    assert elsewhere.code == 3 and "built from" in elsewhere.stderr
    for flags in (["--task", "clustering"], ["--overlap", "5"], ["--document-prompt", "p: "]):
        result = invoke(capsys, "index", corpus, "-i", indexed, "-q", *flags)
        assert_one_line_error(result)
        assert result.code == 3 and "--rebuild" in result.stderr
    assert tree_digest(indexed) == before
    rebuilt = invoke(capsys, "index", corpus, "-i", indexed, "-q", "--task", "clustering",
                     "--rebuild")  # fmt: skip
    assert rebuilt.code == 0, rebuilt.stderr
    assert _info(capsys, indexed)["task"] == "clustering"
    assert len([p for p in indexed.iterdir() if p.name.startswith("gen-")]) <= 2


def test_repeated_updates_reuse_space(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = _info(capsys, indexed)
    rice = corpus / "kitchen" / "rice.txt"
    for round_ in range(12):
        rice.write_text(f"Round {round_}: rinse the rice, boil it, rest it covered. " * 3)
        assert invoke(capsys, "index", corpus, "-i", indexed, "-q").code == 0
    _consistent(indexed)
    info = _info(capsys, indexed)
    assert info["vectors_total"] <= fresh["vectors_total"] + 1
    assert info["files"]["vectors.hnsw"] <= fresh["files"]["vectors.hnsw"] * 1.2


def test_deletions_are_compacted(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("kitchen", "health", "nature"):
        shutil.rmtree(corpus / folder)
    result = invoke(capsys, "index", corpus, "-i", indexed, "-q")
    assert result.code == 0, result.stderr
    assert _summary(result)["removed"] == 6
    info = _consistent(indexed)
    assert info["vectors_total"] == info["chunks"]  # compacted: no dead slots left
    hits = invoke(capsys, "search", "credit", "-i", indexed, "-f", "jsonl").jsonl()
    assert {h["doc_id"] for h in hits} == {"money/credit-score.txt", "money/loan-approval.md"}


def test_interrupted_first_run_resumes(
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tasksift.pipeline.model

    index = tmp_path / "index"
    real = tasksift.pipeline.model.embed_chunks
    calls = {"n": 0}

    def dies_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tasksift.pipeline.model, "embed_chunks", dies_on_third_batch)
    interrupted = invoke(capsys, "index", corpus, "-i", index, "-q", "--checkpoint-every", "3")
    assert interrupted.code == 130
    partial = _consistent(index)
    assert partial["documents"] == 6 and not partial["complete"]
    assert "incomplete" in invoke(capsys, "info", "-i", index, "-f", "table").stdout
    monkeypatch.undo()
    resumed = invoke(capsys, "index", corpus, "-i", index, "-q")
    assert resumed.code == 0, resumed.stderr
    counts = _summary(resumed)
    assert counts["added"] == 2 and counts["unchanged"] == 6
    final = _consistent(index)
    assert final["documents"] == 8 and final["complete"]


def test_permission_denied_while_writing_keeps_the_index(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasksift.index.generations

    before = tree_digest(indexed)
    (corpus / "new.txt").write_text("A new note about sourdough starters.")

    def denied(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tasksift.index.generations.os, "replace", denied)
    result = invoke(capsys, "index", corpus, "-i", indexed, "-q")
    assert_one_line_error(result)
    assert "Permission denied" in result.stderr
    monkeypatch.undo()
    assert tree_digest(indexed) == before
    assert _consistent(indexed)["documents"] == 8


# ---------------------------------------------------------------- real processes, real kills


def _write_corpus(root: Path, documents: int, version: int) -> None:
    words = [
        "river",
        "bank",
        "loan",
        "credit",
        "bread",
        "oven",
        "vaccine",
        "immune",
        "data",
        "model",
        "tree",
        "water",
    ]
    rng = random.Random(version)
    for i in range(documents):
        text = " ".join(rng.choice(words) for _ in range(60))
        (root / f"d{i:04d}.txt").write_text(f"Version {version} document {i}. {text}\n")


def _wait_for_write(index: Path, process: subprocess.Popen, partial: bool) -> None:
    """Return as soon as the writer starts a generation (partial) or finishes one."""
    before = {p.name for p in index.iterdir()}
    while process.poll() is None:
        names = {p.name for p in index.iterdir()} - before
        if any(n.endswith(".partial") if partial else n.startswith("gen-") for n in names):
            return
        time.sleep(0.0005)


def _versions(index: Path) -> set[str]:
    from tasksift.index.reader import load_index

    return {text.split()[1] for text in load_index(index).column("text").to_pylist()}


def _start_index(corpus: Path, index: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tasksift", "index", str(corpus), "-i", str(index), "-q",
         "--checkpoint-every", "40"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )  # fmt: skip


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, Path]:
    """A corpus of 400 generated notes (version 0) and its index, built by a subprocess."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    _write_corpus(corpus, 400, version=0)
    assert run_cli("index", corpus, "-i", index, "-q").code == 0
    return corpus, index


def test_sigkill_at_any_moment_leaves_a_usable_index(
    generated: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, index = generated
    began = time.monotonic()
    _write_corpus(corpus, 400, version=1)
    full = _start_index(corpus, index)
    assert full.wait(timeout=300) == 0, full.stderr.read()
    duration = time.monotonic() - began
    rng = random.Random(1234)
    moments: list[float | str] = sorted(rng.uniform(0.2, 1.0) * duration for _ in range(3))
    moments += ["while the new generation is written", "as the new generation appears"]
    for version, moment in enumerate(moments, start=2):
        _write_corpus(corpus, 400, version=version)
        process = _start_index(corpus, index)
        if isinstance(moment, float):
            time.sleep(moment)
        else:
            _wait_for_write(index, process, partial=moment.startswith("while"))
        process.send_signal(signal.SIGKILL)
        process.wait()
        manifest = _consistent(index)
        assert manifest["documents"] == 400 and manifest["complete"]
        assert len(_versions(index)) == 1  # the previous complete state or the new one
        info = invoke(capsys, "info", "-i", index, "-f", "json")
        assert info.code == 0, info.stderr
        found = invoke(capsys, "search", "river bank", "-i", index, "-k", "3", "-f", "jsonl")
        assert found.code == 0, found.stderr
        assert len(found.jsonl()) == 3
        words = invoke(capsys, "search", "version", "-i", index, "--mode", "lexical", "-f",
                       "jsonl", "-k", "400")  # fmt: skip
        assert len(words.jsonl()) == 400  # every document, all of one version
        assert len({h["snippet"].split()[1] for h in words.jsonl()}) == 1
    leftovers = [p.name for p in index.iterdir() if p.name.endswith(".partial")]
    final = run_cli("index", corpus, "-i", index, "-q")
    assert final.code == 0, final.stderr
    assert not [p for p in index.iterdir() if p.name.endswith(".partial")], leftovers
    assert _consistent(index)["complete"]


def test_second_writer_is_refused_while_one_runs(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    _write_corpus(corpus, 400, version=0)
    first = _start_index(corpus, index)
    try:
        deadline = time.monotonic() + 60
        while not (index / ".lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        began = time.monotonic()
        second = run_cli("index", corpus, "-i", index, "-q")
        assert second.code == 7, second.stderr
        assert "another" in second.stderr
        assert time.monotonic() - began < 5  # refused at once, not after waiting
    finally:
        first.kill()
        first.wait()
    after = run_cli("index", corpus, "-i", index, "-q")  # the killed run's lock is gone
    assert after.code == 0, after.stderr


def test_search_during_an_update_sees_one_consistent_state(
    generated: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, index = generated
    _write_corpus(corpus, 400, version=1)
    writer = _start_index(corpus, index)
    searches = 0
    try:
        while writer.poll() is None:
            _consistent(index)
            result = invoke(capsys, "search", "bread oven", "-i", index, "-k", "5", "-f", "jsonl")
            assert result.code == 0, result.stderr
            versions = {h["snippet"].split()[1] for h in result.jsonl()}
            assert len(result.jsonl()) == 5 and len(versions) == 1
            searches += 1
    finally:
        writer.wait()
    assert writer.returncode == 0
    assert searches >= 2


def test_leftovers_of_killed_runs_are_cleared_by_the_next_run(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = (indexed / "CURRENT").read_text().strip()
    (indexed / ".gen-00000000000000000001.partial").mkdir()
    (indexed / ".CURRENT.abc123").write_text("gen-x\n")
    for name in (
        "gen-00000000000000000002",
        "gen-00000000000000000003",
        "gen-99999999999999999999",
    ):
        shutil.copytree(indexed / live, indexed / name)
    assert invoke(capsys, "index", corpus, "-i", indexed, "-q").code == 0
    remaining = sorted(p.name for p in indexed.iterdir())
    # the live generation and the newest one before it (for readers mid-swap) stay
    assert remaining == [".lock", "CURRENT", "gen-00000000000000000003", live, "onnx"]


def _long_documents(root: Path, count: int, chars: int) -> None:
    """``count`` long documents of real text: the sample corpus's notes, rotated."""
    from conftest import SAMPLE_CORPUS

    texts = [p.read_text() for p in sorted(SAMPLE_CORPUS.rglob("*")) if p.suffix in (".md", ".txt")]
    for i in range(count):
        order = texts[i:] + texts[:i]
        body = "\n\n".join(order)
        text = (body * (chars // len(body) + 1))[:chars]
        (root / f"book{i}.txt").write_text(f"Book {i}.\n\n{text}\n")


def _checkpoints(index: Path) -> int:
    """Documents in the index's live generation, if it is a checkpoint (else -1)."""
    from tasksift.index.reader import read_manifest

    try:
        manifest = read_manifest(index)
    except Exception:  # none yet, or being replaced
        return -1
    return manifest.documents if not manifest.complete else -1


def test_a_killed_run_of_few_long_documents_resumes_from_a_recent_checkpoint(
    tmp_path: Path,
) -> None:
    """Four long documents (about 110 chunks each) are far fewer than a batch of documents;
    the bound on chunks (16 model batches: 64 at --batch-size 4) still makes each its own
    batch, so the run checkpoints every interval (1 s here) and a kill loses little."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    _long_documents(corpus, 4, 100_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "tasksift", "index", str(corpus), "-i", str(index), "-q",
         "--batch-size", "4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "TASKSIFT_CHECKPOINT_SECONDS": "1"},
    )  # fmt: skip
    seen: list[int] = []
    while process.poll() is None and not (seen and seen[-1] >= 2):
        documents = _checkpoints(index) if index.exists() else -1
        if documents > 0 and (not seen or documents != seen[-1]):
            seen.append(documents)
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert seen and seen[-1] >= 2, (seen, process.stderr.read())  # checkpoints, not one batch
    kept = _consistent(index)["documents"]
    assert kept >= 2
    resumed = run_cli("index", corpus, "-i", index, "-q")
    assert resumed.code == 0, resumed.stderr
    counts = _summary(resumed)
    assert counts["unchanged"] == kept and counts["added"] == 4 - kept  # nothing done twice
    assert _consistent(index)["documents"] == 4
