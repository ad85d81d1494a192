"""The sidecar in parts: commits link what did not change, searches read what they show,
older indexes keep working and move to parts without embedding anything again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from conftest import invoke, live_generation, sidecar_parts, sidecar_table, to_format_1


def _hits(capsys: pytest.CaptureFixture[str], index: Path, query: str, *flags: str) -> list:
    result = invoke(capsys, "search", query, "-i", index, "-k", "3", "-f", "jsonl", *flags)
    assert result.code == 0, result.stderr
    return [(h["doc_id"], h["chunk"], h["text"] if "text" in h else h["snippet"])
            for h in result.jsonl()]  # fmt: skip


def test_search_reads_no_text_from_parquet(
    built_index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hits come from the memory-mapped Arrow files; Parquet gives at most its schema."""
    import pyarrow.parquet as pq

    asked: list[object] = []
    real = pq.read_table

    def recording(source: object, *args: object, columns: object = None, **kwargs: object):
        asked.append(columns)
        return real(source, *args, columns=columns, **kwargs)

    monkeypatch.setattr(pq, "read_table", recording)
    monkeypatch.setattr(pq, "ParquetFile", None)  # whole-file reads would fail loudly
    for mode in ("hybrid", "dense", "lexical"):
        hits = _hits(capsys, built_index, "river bank erosion", "--mode", mode)
        assert hits and all(text for _, _, text in hits)
    assert asked == []


def test_update_links_unchanged_parts_and_writes_only_new_ones(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p.name: p.stat().st_ino for p in sidecar_parts(indexed)}
    (corpus / "new.txt").write_text("Sourdough starters need flour, water and patience.")
    assert invoke(capsys, "index", corpus, "-i", indexed, "-q").code == 0
    after = {p.name: p.stat().st_ino for p in sidecar_parts(indexed)}
    assert before.items() <= after.items()  # the same files, hard-linked, not rewritten
    doc_ids = sidecar_table(indexed).column("doc_id").to_pylist()
    assert doc_ids.count("new.txt") == 1 and len(after) == len(before) + 1


def test_checkpoints_link_earlier_parts(
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each checkpoint of a first run adds a part and links the earlier ones."""
    import tasksift.pipeline.writer
    from tasksift.index.generations import generation_dir

    index = tmp_path / "index"
    seen: list[dict[str, int]] = []
    write_generation = tasksift.pipeline.writer.write_generation

    def remember(index_dir: Path, *args: object, **kwargs: object) -> object:
        manifest = write_generation(index_dir, *args, **kwargs)
        parts = (generation_dir(index_dir) / "parts").glob("*.parquet")
        seen.append({p.name: p.stat().st_ino for p in parts})
        return manifest

    monkeypatch.setattr(tasksift.pipeline.writer, "write_generation", remember)
    result = invoke(capsys, "index", corpus, "-i", index, "-q", "--checkpoint-every", "3")
    assert result.code == 0, result.stderr
    assert len(seen) >= 3  # two checkpoints and the final commit
    for earlier, later in zip(seen, seen[1:], strict=False):
        assert earlier.items() <= later.items() and len(later) == len(earlier) + 1


def test_format_1_index_searches_and_moves_to_parts_without_embedding(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasksift.pipeline.model

    queries = ("credit score", "how beavers change rivers")
    expected = {q: _hits(capsys, indexed, q) for q in queries}
    vectors = (live_generation(indexed) / "vectors.hnsw").read_bytes()
    to_format_1(indexed)
    assert not (live_generation(indexed) / "parts").exists()
    assert {q: _hits(capsys, indexed, q) for q in queries} == expected

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("no model may be loaded to move an index to parts")

    monkeypatch.setattr(tasksift.pipeline.model, "load_embedder", no_model)
    result = invoke(capsys, "index", corpus, "-i", indexed, "-q")
    assert result.code == 0, result.stderr
    manifest = json.loads((live_generation(indexed) / "manifest.json").read_text())["manifest"]
    assert manifest["format_version"] == 2 and len(manifest["parts"]) == 1
    assert (live_generation(indexed) / "vectors.hnsw").read_bytes() == vectors
    assert {q: _hits(capsys, indexed, q) for q in queries} == expected


def test_progress_shows_the_whole_run() -> None:
    """Documents and chunks of their totals, chunks/s, time left, and a checkpoint."""
    from io import StringIO

    from tasksift.progress import RunColumn, reporter_for

    out = StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with reporter_for(console, show=True) as reporter:
        reporter.stage("listing files", 10)
        reporter.advance(10)
        reporter.run(documents=10, total_bytes=1000)
        reporter.advance(40)  # chunks embedded
        reporter.documents(4, 400)
        reporter.status("checkpoint")
        text = RunColumn().render(reporter._run_progress.tasks[0]).plain
    assert "documents 4/10" in text and "chunks 40/~100" in text
    assert "chunks/s" in text and "left" in text and "[checkpoint]" in text
