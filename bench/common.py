"""Shared helpers for the benchmark scripts: SciFact paths, timed child processes."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = Path(os.environ.get("TASKSIFT_SCIFACT", ROOT.parent / "shared/collections/scifact"))
CORPUS = SCIFACT / "corpus.jsonl.gz"
QUERIES = SCIFACT / "queries.jsonl"
QRELS = SCIFACT / "qrels.tsv"
RESULTS = ROOT / "bench" / "results"
DEFAULT_INDEX = RESULTS / "scifact.tasksift"
TASKSIFT = [sys.executable, "-m", "tasksift"]


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_rss_mib: float
    stdout: str
    stderr: str
    code: int


def run_timed(command: list[str], stdin: str | None = None) -> Timed:
    """Run ``command``; its wall time and its own peak resident memory (from wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        began = time.perf_counter()
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True
        )
        if stdin is not None:
            process.stdin.write(stdin)
        process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Timed(seconds, usage.ru_maxrss / 1024, out.read(), err.read(), process.returncode)


def self_peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_wall(command: list[str], runs: int = 5) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


def require_scifact() -> None:
    if not CORPUS.is_file():
        sys.exit(f"SciFact not found at {SCIFACT}; set TASKSIFT_SCIFACT to its folder")


def ensure_index(index: Path, rebuild: bool = False) -> Timed | None:
    """Build the SciFact index with the default model unless it is already there."""
    if (index / "CURRENT").is_file() and not rebuild:
        return None
    if index.exists():
        shutil.rmtree(index)
    index.parent.mkdir(parents=True, exist_ok=True)
    timed = run_timed([*TASKSIFT, "index", str(CORPUS), "--index", str(index), "--quiet"])
    if timed.code != 0:
        sys.exit(f"indexing failed: {timed.stderr.strip()}")
    return timed


def row(label: str, value: str) -> None:
    print(f"{label:<44} {value}")
