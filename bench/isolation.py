"""What reading files in a worker process costs: `tasksift index` with and without it.

    python bench/isolation.py [--corpus FOLDER] [--runs 3]

The corpus (default: sample_corpus, every format, real documents) is indexed from scratch
by the real CLI, alternately with the default isolation (`--max-seconds-per-file 60`: each
file read in a worker process under a time limit) and without it (`--max-seconds-per-file
0`: read in this process), ``--runs`` times each; the medians of the whole command's wall
time and their ratio (without / with; target >= 0.95) are printed. Reading alone is timed
too, in this process (`documents.isolated.Reading` over the corpus's files, both ways),
which gives the per-file overhead of the worker (start-up included). Results go to
bench/results/isolation.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, TASKSIFT, row, run_checked

TARGET = 0.95


def index_seconds(corpus: Path, limit: str, work: Path) -> float:
    index = work / f"index-{limit}"
    shutil.rmtree(index, ignore_errors=True)
    timed = run_checked(
        [*TASKSIFT, "index", str(corpus), "-i", str(index), "-q", "--max-seconds-per-file", limit],
        "indexing",
    )
    return timed.seconds


def reading_seconds(corpus: Path, seconds: float) -> tuple[float, int]:
    """Seconds to read every file of ``corpus`` (the worker started within), and files."""
    from tasksift.documents import ReadReport, iter_text_files
    from tasksift.documents.isolated import Reading
    from tasksift.options import ReadingOptions

    ids = [p.relative_to(corpus).as_posix() for p in iter_text_files(corpus)]
    began = time.perf_counter()
    with Reading(corpus, ReadingOptions(max_seconds=seconds), ReadReport()) as reading:
        for _ in reading.documents(ids):
            pass
    return time.perf_counter() - began, len(ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "sample_corpus")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    times: dict[str, list[float]] = {"60": [], "0": []}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.runs):
            for limit in times:  # alternate, so that load changes hit both alike
                times[limit].append(index_seconds(corpus, limit, Path(scratch)))
    isolated, inline = (statistics.median(times[k]) for k in ("60", "0"))
    ratio = inline / isolated
    read_isolated, files = reading_seconds(corpus, 60.0)
    read_inline, _ = reading_seconds(corpus, 0.0)
    overhead_ms = 1000 * (read_isolated - read_inline) / max(files, 1)
    row("corpus", f"{corpus} ({files} files)")
    row("tasksift index, isolated reading s", f"{isolated:.2f}  {times['60']}")
    row("tasksift index, in-process reading s", f"{inline:.2f}  {times['0']}")
    row("ratio in-process / isolated (speed)", f"{ratio:.3f}  (target >= {TARGET})")
    row("reading alone, isolated | in-process s", f"{read_isolated:.2f} | {read_inline:.2f}")
    row("  overhead per file ms (start-up included)", f"{overhead_ms:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "corpus": str(corpus),
        "files": files,
        "runs": args.runs,
        "index_isolated_s": times["60"],
        "index_in_process_s": times["0"],
        "median_isolated_s": isolated,
        "median_in_process_s": inline,
        "ratio": ratio,
        "read_isolated_s": read_isolated,
        "read_in_process_s": read_inline,
        "overhead_ms_per_file": overhead_ms,
    }
    (RESULTS / "isolation.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
