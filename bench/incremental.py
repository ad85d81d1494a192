"""Cost of re-indexing a corpus of N small files: unchanged, and with one file changed.

    python bench/incremental.py [--sizes 100 1000 10000] [--runs 3]

For each N: builds an index of N small text files, then times (median of --runs) three
new processes: `tasksift --version` (process start and CLI import: the baseline),
`tasksift index` on the unchanged corpus (no model is loaded), and `tasksift index` after
one file changed (loads the model, embeds one document). The update should cost what
changed, not what is there: the last columns should stay flat as N grows.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from pathlib import Path

from common import TASKSIFT, run_checked

WORDS = (
    "river bank loan credit bread oven vaccine immune data model tree water market "
    "policy court contract sauce rice grain flood"
).split()


def write_corpus(root: Path, count: int) -> None:
    rng = random.Random(count)
    for i in range(count):
        folder = root / f"part{i % 20:02d}"
        folder.mkdir(exist_ok=True)
        text = " ".join(rng.choice(WORDS) for _ in range(40))
        (folder / f"note{i:05d}.txt").write_text(f"Note {i}. {text}\n")


def median_seconds(command: list[str], runs: int, before=None) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        timed = run_checked(command, " ".join(command))
        times.append(timed.seconds)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    header = f"{'N':>6} {'build s':>8} {'start s':>8} {'unchanged s':>12} {'1 changed s':>12}"
    print(header + f" {'unchanged-start':>16} {'changed-start':>14}")
    for count in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
            corpus.mkdir()
            write_corpus(corpus, count)
            build = run_checked([*TASKSIFT, "index", str(corpus), "-i", str(index), "-q"],
                                "indexing")  # fmt: skip
            start = median_seconds([*TASKSIFT, "--version"], args.runs)
            unchanged = median_seconds(
                [*TASKSIFT, "index", str(corpus), "-i", str(index), "-q"], args.runs
            )
            target = corpus / "part00" / "note00000.txt"
            edits = iter(range(10**6))

            def change_one(target: Path = target, edits=edits) -> None:
                target.write_text(f"Edited note, revision {next(edits)}. The river bank held.\n")

            changed = median_seconds(
                [*TASKSIFT, "index", str(corpus), "-i", str(index), "-q"], args.runs, change_one
            )
            print(
                f"{count:>6} {build.seconds:>8.1f} {start:>8.2f} {unchanged:>12.2f} "
                f"{changed:>12.2f} {unchanged - start:>16.2f} {changed - start:>14.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
