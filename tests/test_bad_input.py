"""Every bad input: one line on stderr, a non-zero exit, no traceback, no damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import (
    assert_one_line_error,
    invoke,
    live_generation,
    run_cli,
    sidecar_parts,
    tree_digest,
)


def test_missing_directory(tmp_path: Path) -> None:
    result = run_cli("index", tmp_path / "nope")
    assert_one_line_error(result)
    assert result.code == 1
    assert "not found" in result.stderr
    assert not (tmp_path / "nope").exists()


def test_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke(capsys, "index", tmp_path / "empty")
    assert_one_line_error(result)
    assert "no text documents" in result.stderr
    assert not (tmp_path / "empty" / ".tasksift").exists()


def test_only_binary_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "binary"
    corpus.mkdir()
    (corpus / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (corpus / "data.bin").write_bytes(bytes(1000))
    result = invoke(capsys, "index", corpus)
    assert_one_line_error(result)
    assert "2 binary" in result.stderr


def test_invalid_utf8_is_skipped_and_good_files_indexed(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "broken.txt").write_bytes(b"caf\xe9 au lait, written in Latin-1")
    result = invoke(capsys, "index", corpus, "-i", tmp_path / "index")
    assert result.code == 0
    assert "Traceback" not in result.stderr
    assert "broken.txt" in result.stderr and "UTF-8" in result.stderr
    assert "indexed 8 documents" in result.stdout and "1 skipped" in result.stdout


def test_missing_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke(capsys, "search", "anything", "--index", tmp_path / "none")
    assert_one_line_error(result)
    assert result.code == 4


def test_no_index_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(capsys, "info")
    assert_one_line_error(result)
    assert result.code == 4
    assert "TASKSIFT_INDEX" in result.stderr


def test_corrupted_sidecar(index_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = index_copy
    sidecar = sidecar_parts(broken)[0]
    sidecar.write_bytes(sidecar.read_bytes()[: sidecar.stat().st_size // 2])
    for command in (["search", "loan"], ["info"]):
        result = invoke(capsys, *command, "--index", broken)
        assert_one_line_error(result)
        assert result.code == 5
        assert "unreadable" in result.stderr


def test_vectors_and_rows_that_disagree(
    index_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hnswlib
    import numpy as np

    broken = index_copy
    generation = live_generation(broken)
    graph = hnswlib.Index(space="cosine", dim=384)
    graph.init_index(max_elements=3)
    graph.add_items(np.ones((3, 384), dtype=np.float32))
    graph.save_index(str(generation / "vectors.hnsw"))
    result = invoke(capsys, "search", "loan", "--index", broken)
    assert_one_line_error(result)
    assert result.code == 5
    assert "inconsistent" in result.stderr


def test_unknown_format_version(index_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    broken = index_copy
    copy = live_generation(broken) / "manifest.json"  # as a future tasksift would write it
    written = json.loads(copy.read_text())
    written["manifest"]["format_version"] = 99
    copy.write_text(json.dumps(written))
    result = invoke(capsys, "info", "--index", broken)
    assert_one_line_error(result)
    assert result.code == 5 and "99" in result.stderr


def test_unknown_task(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke(capsys, "index", corpus, "--task", "qa")
    assert_one_line_error(result)
    assert result.code == 2
    assert "qa" in result.stderr and "retrieval" in result.stderr


def test_k_zero(built_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_digest(built_index)
    result = invoke(capsys, "search", "loan", "--index", built_index, "-k", "0")
    assert_one_line_error(result)
    assert result.code == 2
    assert tree_digest(built_index) == before


def test_empty_query(built_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke(capsys, "search", "   ", "--index", built_index)
    assert_one_line_error(result)
    assert result.code == 2


def test_unloadable_model(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke(capsys, "index", corpus, "--model", "no-such-org/no-such-model")
    assert_one_line_error(result)
    assert result.code == 6
    assert "no-such-org/no-such-model" in result.stderr
    assert not (corpus / ".tasksift").exists()


def test_failed_runs_keep_the_previous_index(
    corpus: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    index = indexed
    before = tree_digest(index)
    bad_model = invoke(capsys, "index", corpus, "--index", index, "-m", "x/y", "--rebuild")
    assert bad_model.code == 6
    for child in list(corpus.iterdir()):
        shutil.rmtree(child)
    emptied = invoke(capsys, "index", corpus, "--index", index)
    assert_one_line_error(emptied)
    assert emptied.code == 1 and "left as it was" in emptied.stderr
    assert tree_digest(index) == before


def test_disk_full_during_the_write_keeps_the_previous_index(
    corpus: Path,
    indexed: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    import pyarrow.parquet as pq

    index = indexed
    before = tree_digest(index)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    (corpus / "new.txt").write_text("A new note, so that the update has something to write.")
    monkeypatch.setattr(pq, "write_table", full_disk)
    result = invoke(capsys, "index", corpus, "--index", index, "-q")
    assert_one_line_error(result)
    assert "No space left on device" in result.stderr
    assert "unchanged" in result.stderr
    assert tree_digest(index) == before  # no partial generation left behind
    monkeypatch.undo()
    assert invoke(capsys, "info", "--index", index, "-f", "json").code == 0


def test_second_writer_is_refused(
    built_index: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from filelock import FileLock

    index = tmp_path / "index"
    shutil.copytree(built_index, index)
    with FileLock(str(index / ".lock")):
        result = invoke(capsys, "index", corpus, "--index", index, "-q")
    assert_one_line_error(result)
    assert result.code == 7
    assert "another" in result.stderr


@pytest.mark.parametrize(
    ("command", "wrong", "offered"),
    [
        (["info"], "tsv", "'table', 'json'"),
        (["models"], "jsonl", "'table', 'json'"),
        (["eval", "--queries", "q.tsv", "--qrels", "r.tsv"], "trec", "'table', 'json'"),
        (["dupes"], "trec", "'table', 'json', 'jsonl', 'tsv'"),
        (["cluster", "-n", "2"], "trec", "'table', 'json', 'jsonl', 'tsv'"),
        (["classify", "--labels", "l.tsv"], "trec", "'table', 'json', 'jsonl', 'tsv'"),
    ],
)
def test_a_format_a_command_does_not_write_is_a_usage_error_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], wrong: str, offered: str
) -> None:
    """Refused while parsing: the index named does not even exist, and that goes unsaid."""
    where = [] if command == ["models"] else ["--index", tmp_path / "none"]
    result = invoke(capsys, *command, *where, "-f", wrong)
    assert_one_line_error(result)
    assert result.code == 2
    assert f"'{wrong}' is not one of {offered}" in result.stderr
