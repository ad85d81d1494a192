"""Walking a corpus: hidden files, .gitignore, binary and undecodable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasksift.documents import Document, ReadReport, iter_text_files, read_document


def read_directory(
    root: Path, report: ReadReport, exclude: tuple[Path, ...] = ()
) -> list[Document]:
    """What the indexer reads of a folder: the text files that the walk keeps."""
    found = (read_document(path, root, report) for path in iter_text_files(root, exclude))
    return [document for document in found if document is not None]


def _write(root: Path, files: dict[str, bytes | str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)


def test_walk_skips_what_it_should(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "a.md": "alpha",
            "notes/b.txt": "beta",
            "notes/c.rst": "gamma",
            "code/script.py": "print('text by content')",
            "LICENSE": "plain text without suffix",
            ".hidden.txt": "hidden",
            ".git/config": "hidden folder",
            "build/out.txt": "ignored by root .gitignore",
            "notes/draft.txt": "ignored by nested .gitignore",
            "notes/keep.log": "negated",
            "x.log": "ignored",
            ".gitignore": "build/\n*.log\n",
            "notes/.gitignore": "draft.txt\n!keep.log\n",
            "picture.png": b"\x89PNG\r\n\x1a\n\x00\x00",
            "latin1.txt": b"caf\xe9",
            "empty.txt": "  \n",
            "bom.txt": "\ufeffwith a byte order mark",
            "index/CURRENT": "the index folder itself",
        },
    )
    report = ReadReport()
    docs = {d.doc_id: d.text for d in read_directory(tmp_path, report, (tmp_path / "index",))}
    assert set(docs) == {
        "a.md", "notes/b.txt", "notes/c.rst", "code/script.py", "LICENSE",
        "notes/keep.log", "bom.txt",
    }  # fmt: skip
    assert docs["bom.txt"] == "with a byte order mark"
    assert (report.binary, report.unreadable, report.empty) == (1, 1, 1)
    assert report.skipped == 3
    assert any("latin1.txt" in w and "UTF-8" in w for w in report.warnings)


def test_a_file_that_is_no_corpus_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import assert_one_line_error, invoke

    (tmp_path / "file.txt").write_text("x")
    result = invoke(capsys, "index", tmp_path / "file.txt")
    assert_one_line_error(result)
    assert "not a directory" in result.stderr


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    import os

    _write(tmp_path, {"ok.txt": "fine", "locked.txt": "secret"})
    os.chmod(tmp_path / "locked.txt", 0)
    try:
        if os.access(tmp_path / "locked.txt", os.R_OK):
            pytest.skip("running as a user who can read anything")
        report = ReadReport()
        docs = [d.doc_id for d in read_directory(tmp_path, report)]
    finally:
        os.chmod(tmp_path / "locked.txt", 0o644)
    assert docs == ["ok.txt"]
    assert report.unreadable == 1
