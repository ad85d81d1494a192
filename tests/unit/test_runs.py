"""TREC run files as ``eval --compare`` reads them."""

from __future__ import annotations

from pathlib import Path

from tasksift.output.hits import trec_docid
from tasksift.queries import read_run


def test_ids_with_whitespace_come_back_as_search_wrote_them(tmp_path: Path) -> None:
    ids = ["coreutils#cut invocation", "a%20b", "plain", "tab\there"]
    run = tmp_path / "run.trec"
    run.write_text("".join(f"q1 Q0 {trec_docid(d)} {r} {9 - r} x\n" for r, d in enumerate(ids)))
    assert read_run(run) == {"q1": {d: 9.0 - r for r, d in enumerate(ids)}}
