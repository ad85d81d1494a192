"""Shared helpers for the benchmark scripts: SciFact paths, timed child processes, and the
JSON record every script leaves.

Importing this module makes the running script write ``bench/results/NAME.json`` when it
ends: the figures it gave ``row`` and ``record`` (label -> value), every line it printed,
and where it ran (CPUs, load average before and after, the commit). Printed figures and
the JSON come from the same calls, so they cannot disagree.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

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


# Runs the command given after a file name; writes its wall time, peak RSS (KiB) and exit
# status there. Linux counts the parent's peak RSS at exec in a child's ru_maxrss, so a
# child of a large bench process would report at least the bench's own peak; this small
# launcher's children report their own.
_LAUNCHER = """
import resource, subprocess, sys, time
began = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - began
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as facts:
    facts.write(f"{seconds} {peak} {code}")
"""


def run_timed(command: list[str], stdin: str | None = None) -> Timed:
    """Run ``command``; its wall time and its own peak resident memory (from wait4, taken
    by a small launcher process, not counting this process's memory)."""
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r") as facts,
    ):
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, facts.name]
        process = subprocess.Popen(
            [*launcher, *command], stdin=subprocess.PIPE, stdout=out, stderr=err, text=True
        )
        if stdin is not None:
            process.stdin.write(stdin)
        process.stdin.close()
        process.wait()
        seconds, peak_kib, code = facts.read().split()
        out.seek(0)
        err.seek(0)
        return Timed(float(seconds), int(peak_kib) / 1024, out.read(), err.read(), int(code))


def run_checked(command: list[str], what: str, stdin: str | None = None) -> Timed:
    """``run_timed``, ending the benchmark with ``what`` and the command's error if it fails."""
    timed = run_timed(command, stdin)
    if timed.code != 0:
        sys.exit(f"{what} failed ({timed.code}): {timed.stderr.strip()}")
    return timed


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
    return run_checked(
        [*TASKSIFT, "index", str(CORPUS), "--index", str(index), "--quiet"], "indexing"
    )


def row(label: str, value: str) -> None:
    """Print one figure, and keep it for the JSON record."""
    FIGURES[label] = value
    print(f"{label:<44} {value}")


def record(label: str, value: object) -> None:
    """Keep a figure (any JSON value) for the JSON record without printing it."""
    FIGURES[label] = value


FIGURES: dict[str, object] = {}


class _Tee(io.TextIOBase):
    """stdout, with each printed line kept for the JSON record."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.lines, self._partial = stream, [], ""

    def write(self, text: str) -> int:
        self._partial += text
        *done, self._partial = self._partial.split("\n")
        self.lines.extend(done)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _commit() -> str | None:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.stdout.strip() or None


def _write_record(script: str, tee: _Tee, load_before: tuple[float, ...]) -> None:
    """Write the run's figures and output; a run that measured nothing (a usage error, say)
    leaves the last record as it was."""
    import json
    from datetime import datetime, timezone

    if not FIGURES and not tee.lines and not tee._partial:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg()}
    document = {
        "script": script,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "commit": _commit(),
        "machine": machine,
        "figures": FIGURES,
        "output": tee.lines + ([tee._partial] if tee._partial else []),
    }
    path = RESULTS / f"{script}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    sys.__stdout__.write(f"# figures written to {path.relative_to(ROOT)}\n")


def _keep_a_record() -> None:
    """From here on, the running bench script leaves its JSON record when it ends."""
    main = sys.modules.get("__main__")
    path = Path(getattr(main, "__file__", "") or "").resolve()
    if path.parent not in (ROOT / "bench", ROOT / "experiments") or path.stem == "common":
        return  # imported by a test or a tool, not run as a bench script
    script = path.stem
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    atexit.register(_write_record, script, tee, os.getloadavg())


_keep_a_record()


COMMIT_PREFIXES = ("_commit", "_checkpoint", "commit", "checkpoint")
COMMIT_MODULES = ("tasksift.pipeline", "tasksift.index", "tasksift.lexical")


class CommitTimer:
    """Wall time spent in the index writer's commits (checkpoints), measured in-process.

    ``install`` imports every ``tasksift.pipeline`` module and wraps each method whose name
    starts with one of ``COMMIT_PREFIXES`` on the classes defined in the pipeline, index and
    lexical modules, so that the timer follows a refactor that renames or moves the commit.
    Only the outermost of nested wrapped calls is counted. Exits if nothing is found.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls: dict[str, int] = {}
        self._depth = 0

    @classmethod
    def install(cls) -> CommitTimer:
        import importlib
        import pkgutil

        import tasksift.pipeline

        for info in pkgutil.iter_modules(tasksift.pipeline.__path__):
            try:
                importlib.import_module(f"tasksift.pipeline.{info.name}")
            except Exception as exc:  # a module mid-rewrite: the pipeline may not use it
                print(f"# note: tasksift.pipeline.{info.name} not imported: {exc}", file=sys.stderr)
        timer = cls()
        for name, module in list(sys.modules.items()):
            if not name.startswith(COMMIT_MODULES) or module is None:
                continue
            for owner in list(vars(module).values()):
                if isinstance(owner, type) and owner.__module__ == name:
                    for method in list(vars(owner)):
                        if method.startswith(COMMIT_PREFIXES) and callable(vars(owner)[method]):
                            timer._wrap(owner, method)
        if not timer.calls:
            sys.exit(
                "no commit method found: no class in tasksift.pipeline, tasksift.index or "
                f"tasksift.lexical has a method named {', '.join(COMMIT_PREFIXES)}*; "
                "update CommitTimer in bench/common.py"
            )
        return timer

    def _wrap(self, owner: type, method: str) -> None:
        import functools

        original = vars(owner)[method]
        if isinstance(original, (staticmethod, classmethod)):
            return
        label = f"{owner.__name__}.{method}"
        self.calls[label] = 0

        @functools.wraps(original)
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.calls[label] += 1
            self._depth += 1
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds += time.perf_counter() - began

        setattr(owner, method, timed)

    @property
    def commits(self) -> int:
        """Calls of the most called ``*commit*`` method (else of any wrapped method)."""
        named = [n for label, n in self.calls.items() if "commit" in label.split(".")[-1]]
        return max(named or self.calls.values(), default=0)

    def describe(self) -> str:
        return ", ".join(f"{label} ({count} calls)" for label, count in self.calls.items())
