"""A reader cannot take a run down: a file whose reader raises, hangs or crashes its process
is skipped with a warning and counted as failed, and the run goes on and commits; with
--strict the first such file is an error and the index is left as it was.

The failing readers are real plugins, found through the ``tasksift.readers`` entry point
group of an installed distribution (a ``.dist-info`` folder on ``PYTHONPATH``), in the real
CLI run as a subprocess: the worker processes that read files find them the same way.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from conftest import run_cli, tree_digest
from tasksift.errors import ExitCode

PLUGIN = """
import os
import signal
import time


class _Failing:
    version = 1

    def sniff(self, head):
        return False


class RaisingReader(_Failing):
    kind, suffixes = "boom", (".boom",)

    def read(self, data, path):
        return min([])  # ValueError: min() arg is an empty sequence


class HangingReader(_Failing):
    kind, suffixes = "hang", (".hang",)

    def read(self, data, path):
        time.sleep(3600)


class CrashingReader(_Failing):
    kind, suffixes = "crash", (".crash",)

    def read(self, data, path):
        os.kill(os.getpid(), signal.SIGSEGV)
"""
ENTRY_POINTS = """[tasksift.readers]
boom = failing_readers:RaisingReader
hang = failing_readers:HangingReader
crash = failing_readers:CrashingReader
"""
LIMIT_S = 3  # --max-seconds-per-file


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``PYTHONPATH`` with a distribution that declares three failing readers."""
    site = tmp_path_factory.mktemp("plugins")
    (site / "failing_readers.py").write_text(PLUGIN)
    info = site / "failing_readers-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: failing-readers\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    paths = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}


@pytest.fixture
def bad_corpus(corpus: Path) -> Path:
    """The mini corpus (8 documents) with a file for each failing reader and a large one."""
    (corpus / "money" / "statement.boom").write_text("raises")
    (corpus / "nature" / "stuck.hang").write_text("hangs")
    (corpus / "kitchen" / "dies.crash").write_text("crashes")
    (corpus / "big.txt").write_text("x" * 1_100_000)
    return corpus


def index(corpus: Path, index_dir: Path, env: dict[str, str], *args: str):
    return run_cli(
        "index", corpus, "-i", index_dir, "--max-seconds-per-file", str(LIMIT_S),
        "--max-file-size", "1", *args, env=env,
    )  # fmt: skip


def assert_failures_reported(result) -> None:
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "indexed 8 documents (8 added" in result.stdout
    assert "1 skipped, 3 failed" in result.stdout
    lines = result.stderr.splitlines()
    expected = {
        "failed money/statement.boom: ValueError: min() arg is an empty sequence (a bug in the "
        "boom reader; please report it)",
        f"failed nature/stuck.hang: reading took over {LIMIT_S} s (--max-seconds-per-file)",
        "failed kitchen/dies.crash: the reading process died (SIGSEGV: a bug in a reader; "
        "please report it)",
        "skipped big.txt: 1.1 MB, over the 1 MB limit (--max-file-size)",
    }
    for line in expected:
        assert any(line in shown for shown in lines), (line, result.stderr)


def test_failing_readers_fail_their_files_and_the_run_goes_on(
    bad_corpus: Path, tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    index_dir = tmp_path / "index"
    result = index(bad_corpus, index_dir, plugin_env)
    assert_failures_reported(result)
    found = run_cli("search", "how is a loan approved", "-i", index_dir, "-k", "1", "-f", "jsonl")
    assert found.code == 0, found.stderr
    assert found.jsonl()[0]["doc_id"] == "money/loan-approval.md"

    before = tree_digest(index_dir)
    strict = index(bad_corpus, index_dir, plugin_env, "--strict")
    assert strict.code == ExitCode.READER_FAILED
    lines = [line for line in strict.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in strict.stderr, strict.stderr
    assert lines[0].startswith("error: failed kitchen/dies.crash: the reading process died")
    assert "--strict" in lines[0]
    assert tree_digest(index_dir) == before


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is missing")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_failing_readers_fail_their_files_on_ray_too(
    bad_corpus: Path, tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    env = {**plugin_env, "HF_HUB_OFFLINE": "1"}
    result = index(bad_corpus, tmp_path / "index", env, "--engine", "ray")
    assert_failures_reported(result)
