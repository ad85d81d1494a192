"""`tasksift serve`: searches through the service print what they print alone, byte for
byte, in every format; a killed service is noticed at once and the search runs alone.

One service (a real subprocess) on a private copy of the mini index for the module.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from tasksift.serve.protocol import SearchArgs, ask, socket_path

QUERY = "why does my mayonnaise split"


def start_service(index: Path, *extra: str) -> subprocess.Popen:
    """``tasksift serve`` on ``index``, once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tasksift", "serve", "--index", str(index), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not socket_path(index).exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.1)
    return process


@pytest.fixture(scope="module")
def served(built_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    index = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(built_index, index)
    process = start_service(index)
    yield index
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not socket_path(index).exists()  # a clean stop removes its socket
    process.stderr.close()


def served_search_imports_no_numpy(index: Path, *args: str) -> bool:
    """A search answered by the service never imports numpy (the in-process one must)."""
    result = run_cli("search", *args, "-i", index, interpreter=("-X", "importtime"))
    assert result.code == 0, result.stderr
    return not any(line.rstrip().endswith("| numpy") for line in result.stderr.splitlines())


def test_the_socket_is_private(served: Path) -> None:
    mode = socket_path(served).stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "tsv", "trec"])
def test_every_format_is_the_same_through_the_service(served: Path, fmt: str) -> None:
    args = ("search", QUERY, "-i", served, "-k", "3", "--explain", "-f", fmt)
    through, alone = run_cli(*args), run_cli(*args, "--no-server")
    assert through.code == alone.code == 0, alone.stderr
    assert through.stdout == alone.stdout and through.stdout
    assert through.stderr == alone.stderr


def test_batches_filters_and_refusals_are_the_same(served: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\triver banks washing away\nq2\t\nq3\thow is a loan approved\n")
    for args in [
        ("search", "-Q", queries, "-f", "tsv", "--chunks"),  # a skipped line: exit code 8
        ("search", QUERY, "--path", "kitchen/*", "--mode", "lexical", "-f", "jsonl"),
        ("search", QUERY, "--task", "clustering"),  # the guard's refusal: exit code 3
    ]:
        through, alone = run_cli(*args, "-i", served), run_cli(*args, "-i", served, "--no-server")
        assert (through.code, through.stdout, through.stderr) == (
            alone.code,
            alone.stdout,
            alone.stderr,
        )
    assert served_search_imports_no_numpy(served, QUERY, "-f", "tsv")


def test_a_shell_loop_of_searches(served: Path) -> None:
    script = (
        'for q in "mayonnaise split" "loan approval" "beaver dams"; do '
        f'"{sys.executable}" -m tasksift search "$q" -i "{served}" -k 1 -f tsv || exit 1; done'
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = [line.split("\t")[1] for line in done.stdout.splitlines()]
    assert found == ["kitchen/mayonnaise.md", "money/loan-approval.md", "nature/beaver-dams.txt"]


def test_a_killed_service_is_passed_over_at_once(built_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(built_index, index)
    process = start_service(index)
    args = SearchArgs(str(index), str(index), [("1", QUERY, 1)], True, 1, "tsv")
    assert ask(args) is not None
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    assert socket_path(index).exists()  # left behind: stale
    began = time.perf_counter()
    assert ask(args) is None
    assert time.perf_counter() - began < 0.5
    result = run_cli("search", QUERY, "-i", index, "-k", "1", "-f", "tsv")
    assert result.code == 0 and result.stdout.split("\t")[1] == "kitchen/mayonnaise.md"
    again = start_service(index)  # a new service takes the stale socket's place
    again.send_signal(signal.SIGINT)
    assert again.wait(timeout=30) == 0
    again.stderr.close()
