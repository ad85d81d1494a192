"""The readers on thousands of real files nobody here made, and on damaged copies of them.

    python bench/robustness.py [--sample N] [--seed S] [--timeout S] [--mutants K]
                               [--base COMMIT | --no-base] [--corpus DIR]

Reads every file whose suffix a reader claims (PDF, HTML, EPUB, DOCX, notebooks, mail, plain
text) under the corpus folder with that reader, in this process, each read guarded by a time
limit (``--timeout``, 60 s) and by a catch-all: a file is *read*, *skipped* (the reader raised
``Unreadable``; counted by reason), *crashed* (any other exception escaped the reader: a bug)
or *timed out*. Then a mutation pass: ``--mutants`` damaged copies of up to 20 real files of
each kind that were read (truncated at seeded random points, and with seeded random bytes
overwritten), read the same way. Prints per kind files read / skipped by reason / crashed /
timed out, pages/s for PDF and files (pages) per second for HTML, and writes it all to
bench/results/robustness.json. Exits 1 when anything crashed.

Speed is compared with the readers of ``--base`` (a commit; default ``BASE``, the commit
before issue 16), checked out with ``git worktree add`` into a temporary folder and timed in a
child process on the same PDF and HTML files (those both versions read), just before this
version times them in another; the target is at least 0.9x the base's pages/s.
``--sample N`` reads N files of each kind, drawn with ``--seed``.

The corpus: Debian's documentation packages, unpacked (default ~/.cache/tasksift-robustness/
tree, or $TASKSIFT_ROBUSTNESS), one folder per package:

    mkdir -p ~/.cache/tasksift-robustness/debs && cd ~/.cache/tasksift-robustness/debs
    apt-get download texlive-publishers-doc texlive-science-doc texlive-latex-base-doc \\
        texlive-latex-recommended-doc texlive-humanities-doc texlive-luatex texlive-xetex \\
        texlive-lang-chinese texlive-lang-japanese texlive-lang-korean texlive-lang-cyrillic \\
        texlive-metapost-doc texlive-fonts-recommended-doc lilypond-doc-pdf r-doc-pdf \\
        ghostscript-doc octave-doc bash-doc gnuplot-doc python3.11-doc doxygen-doc \\
        asciidoctor-doc git-doc junit4-doc libcommons-lang3-java-doc maxima-doc r-doc-html \\
        debian-handbook developers-reference live-manual-epub ubuntu-packaging-guide-epub \\
        python3-docx python3-docxcompose python3-docxtpl pandoc-data
    for deb in *.deb; do dpkg-deb -x "$deb" "../tree/${deb%%_*}"; done

(apt-get download needs no root; the PDFs come from pdfTeX, LuaTeX, XeTeX, dvipdfmx, Ghostscript
and others; the HTML from Sphinx, Doxygen, asciidoctor, javadoc, texinfo and R.)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common import RESULTS, ROOT, row

CORPUS = Path(
    os.environ.get("TASKSIFT_ROBUSTNESS", Path.home() / ".cache/tasksift-robustness/tree")
)
BASE = "139267c"  # main before issue 16's readers
SPEED_KINDS = ("pdf", "html")
SPEED_TARGET = 0.9
SPEED_PARTS = 4  # the base and this version take turns reading this many shares of the files
MUTATED_FILES = 20  # real files per kind that the mutation pass damages
MUTANT_MAX_BYTES = 4 * 2**20  # ...chosen among those no larger than this


class TimedOut(Exception):
    """Raised by the alarm inside a read that ran past its time limit."""


@dataclass
class Outcome:
    """What happened to one read: ``status`` is read, skipped, crashed or timed out."""

    status: str
    detail: str = ""  # the reason skipped, or the exception
    pages: int = 0
    seconds: float = 0.0


@dataclass
class Tally:
    """Outcomes of one kind of file."""

    read: int = 0
    pages: int = 0
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)
    crashed: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)

    def add(self, name: str, outcome: Outcome) -> None:
        if outcome.status == "read":
            self.read += 1
            self.pages += outcome.pages
            self.seconds += outcome.seconds
        elif outcome.status == "skipped":
            self.skipped[reason_class(outcome.detail)] += 1
        elif outcome.status == "crashed":
            self.crashed.append(f"{name}: {outcome.detail}")
        else:
            self.timed_out.append(name)

    def as_dict(self) -> dict:
        rate = self.pages / self.seconds if self.seconds else None
        return {
            "read": self.read,
            "pages": self.pages,
            "read_seconds": round(self.seconds, 3),
            "pages_per_s": round(rate, 1) if rate else None,
            "skipped": dict(self.skipped.most_common()),
            "crashed": self.crashed,
            "timed_out": self.timed_out,
        }


def reason_class(reason: str) -> str:
    """A skip reason without its particulars (page numbers, library messages, sizes)."""
    return re.sub(r"\s*\(.*", "", reason).strip() or reason


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimedOut in this (main) thread after ``seconds``."""

    def alarm(signum: int, frame: object) -> None:
        raise TimedOut

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def guarded_read(reader: object, data: bytes, path: Path, timeout: float) -> Outcome:
    """One read; whatever escapes the reader other than Unreadable is a crash."""
    from tasksift.documents.extracted import Unreadable

    began = time.perf_counter()
    try:
        with time_limit(timeout):
            extracted = reader.read(data, path)
    except Unreadable as exc:
        return Outcome("skipped", str(exc))
    except TimedOut:
        return Outcome("timed out")
    except Exception as exc:  # noqa: BLE001 - a crash is what this counts
        where = traceback.extract_tb(exc.__traceback__)[-1]
        detail = (
            f"{type(exc).__name__}: {str(exc)[:120]} ({Path(where.filename).name}:{where.lineno})"
        )
        return Outcome("crashed", detail)
    seconds = time.perf_counter() - began
    return Outcome("read", pages=max(len(extracted.pages), 1), seconds=seconds)


def corpus_files(corpus: Path, sample: int | None, seed: int) -> dict[str, list[Path]]:
    """Per reader kind, the files under ``corpus`` whose suffix the reader claims (a seeded
    sample of ``sample`` of them when given)."""
    from tasksift.documents import reader_of_suffix

    files: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(corpus.rglob("*")):
        reader = reader_of_suffix(path) if path.is_file() and not path.is_symlink() else None
        if reader is not None:
            files[reader.kind].append(path)
    if sample is not None:
        rng = random.Random(seed)
        files = {k: sorted(rng.sample(v, min(sample, len(v)))) for k, v in files.items()}
    return dict(files)


def read_all(files: dict[str, list[Path]], timeout: float, root: Path) -> tuple[dict, dict]:
    """Tallies per kind, and per-file seconds of the files read (for the speed comparison)."""
    from tasksift.documents import readers

    by_kind = {reader.kind: reader for reader in readers()}
    tallies, seconds = {}, {}
    for kind, paths in files.items():
        tally = tallies.setdefault(kind, Tally())
        for path in paths:
            outcome = guarded_read(by_kind[kind], path.read_bytes(), path, timeout)
            name = path.relative_to(root).as_posix()
            tally.add(name, outcome)
            if outcome.status == "read":
                seconds[str(path)] = (outcome.pages, outcome.seconds)
    return tallies, seconds


def mutants(data: bytes, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    """Damaged copies of ``data``, by turns: truncated at a random point; with 1 to 16
    random bytes overwritten anywhere; and, for a zip (DOCX, EPUB), zipped again with one
    entry truncated or its bytes overwritten, so that the damage reaches the XML inside."""
    kinds = 3 if data.startswith(b"PK\x03\x04") else 2
    for number in range(count):
        if number % kinds == 0:
            cut = rng.randrange(len(data)) if data else 0
            yield f"truncated at {cut}", data[:cut]
        elif number % kinds == 1:
            yield "bytes flipped", flip_bytes(data, rng)
        else:
            yield rezip_damaged(data, rng)


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    damaged = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        if damaged:
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
    return bytes(damaged)


def rezip_damaged(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """The zip with one random entry damaged (truncated or bytes overwritten)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    entries = source.infolist()
    victim = rng.choice(entries).filename
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in entries:
            content = source.read(entry)
            if entry.filename == victim:
                cut = rng.randrange(len(content) + 1)
                content = content[:cut] if rng.random() < 0.5 else flip_bytes(content, rng)
            target.writestr(entry, content)
    return f"entry {victim} damaged", out.getvalue()


def mutation_pass(
    files: dict[str, list[Path]], count: int, seed: int, timeout: float, root: Path
) -> dict[str, Tally]:
    """``count`` mutants of up to ``MUTATED_FILES`` real files of each kind."""
    from tasksift.documents import readers

    by_kind = {reader.kind: reader for reader in readers()}
    rng = random.Random(seed)
    tallies = {}
    for kind, paths in files.items():
        small = [p for p in paths if p.stat().st_size <= MUTANT_MAX_BYTES]
        chosen = sorted(rng.sample(small, min(MUTATED_FILES, len(small))))
        tally = tallies.setdefault(kind, Tally())
        for path in chosen:
            data = path.read_bytes()
            for label, mutant in mutants(data, rng, count):
                outcome = guarded_read(by_kind[kind], mutant, path, timeout)
                tally.add(f"{path.relative_to(root).as_posix()} ({label})", outcome)
    return tallies


def time_files(paths: list[str], timeout: float) -> dict[str, tuple[int, float]]:
    """Pages and seconds of each file that the importable readers read (after a first,
    untimed read of one file of each kind, which imports the libraries)."""
    from tasksift.documents import reader_of_suffix

    firsts = {reader_of_suffix(Path(name)).kind: name for name in reversed(paths)}
    time_files_once(list(firsts.values()), timeout)
    return time_files_once(paths, timeout)


def time_files_once(paths: list[str], timeout: float) -> dict[str, tuple[int, float]]:
    from tasksift.documents import reader_of_suffix

    timed = {}
    for name in paths:
        path = Path(name)
        outcome = guarded_read(reader_of_suffix(path), path.read_bytes(), path, timeout)
        if outcome.status == "read":
            timed[name] = (outcome.pages, outcome.seconds)
    return timed


def time_in_child(src: Path, paths: list[str], timeout: float) -> dict[str, tuple[int, float]]:
    """``time_files`` run by a fresh interpreter that imports tasksift from ``src``."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as listing:
        json.dump(paths, listing)
        listing.flush()
        command = [
            sys.executable,
            __file__,
            "--time-files",
            listing.name,
            "--timeout",
            str(timeout),
        ]
        env = {**os.environ, "PYTHONPATH": str(src)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return {name: tuple(value) for name, value in json.loads(done.stdout).items()}


@contextlib.contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """A temporary worktree of ``commit``."""
    folder = Path(tempfile.mkdtemp(prefix="tasksift-base-"))
    git = ["git", "-C", str(ROOT)]
    subprocess.run(
        [*git, "worktree", "add", "--detach", str(folder), commit], check=True, capture_output=True
    )
    try:
        yield folder
    finally:
        subprocess.run(
            [*git, "worktree", "remove", "--force", str(folder)], check=False, capture_output=True
        )


def compare_speed(files: dict[str, list[Path]], commit: str, timeout: float) -> dict:
    """Pages/s of the base's readers and of these, per kind, on the files both read."""
    paths = [str(p) for kind in SPEED_KINDS for p in files.get(kind, [])]
    base: dict[str, tuple[int, float]] = {}
    ours: dict[str, tuple[int, float]] = {}
    with checkout(commit) as base_tree:
        for part in range(SPEED_PARTS):  # taking turns, so that the load on the machine
            share = paths[part::SPEED_PARTS]  # weighs on both alike
            base |= time_in_child(base_tree / "src", share, timeout)
            ours |= time_in_child(ROOT / "src", share, timeout)
    speed = {}
    for kind in SPEED_KINDS:
        both = [str(p) for p in files.get(kind, []) if str(p) in base and str(p) in ours]
        if not both:
            continue
        pages = sum(ours[name][0] for name in both)
        base_rate = sum(base[name][0] for name in both) / sum(base[name][1] for name in both)
        rate = pages / sum(ours[name][1] for name in both)
        speed[kind] = {
            "files": len(both),
            "pages": pages,
            "base_pages_per_s": round(base_rate, 1),
            "pages_per_s": round(rate, 1),
            "ratio": round(rate / base_rate, 3),
        }
    return speed


def report(title: str, tallies: dict[str, Tally]) -> None:
    print(f"\n{title}")
    for kind, tally in sorted(tallies.items()):
        rate = f", {tally.pages / tally.seconds:.0f} pages/s" if tally.seconds else ""
        row(f"  {kind}: read", f"{tally.read} ({tally.pages} pages{rate})")
        for reason, count in tally.skipped.most_common():
            row(f"  {kind}: skipped, {reason}", str(count))
        row(f"  {kind}: crashed / timed out", f"{len(tally.crashed)} / {len(tally.timed_out)}")
        for line in tally.crashed[:10] + tally.timed_out[:5]:
            print(f"    {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--sample", type=int, help="files of each kind (default: all)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per read")
    parser.add_argument("--mutants", type=int, default=6, help="damaged copies per file")
    parser.add_argument("--base", default=BASE, help="commit whose readers set the pace")
    parser.add_argument("--no-base", action="store_true", help="skip the speed comparison")
    parser.add_argument("--time-files", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.time_files:
        print(json.dumps(time_files(json.loads(args.time_files.read_text()), args.timeout)))
        return 0
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}: see this script's docstring to fetch it")
    files = corpus_files(args.corpus, args.sample, args.seed)
    speed = {} if args.no_base else compare_speed(files, args.base, args.timeout)
    tallies, _ = read_all(files, args.timeout, args.corpus)
    report("real files", tallies)
    mutated = mutation_pass(files, args.mutants, args.seed, args.timeout, args.corpus)
    report("mutants (truncated, bytes flipped, zip entries damaged)", mutated)
    print("\nspeed against the base readers (same files, same run)")
    for kind, figures in speed.items():
        row(
            f"  {kind}: {figures['files']} files, {figures['pages']} pages",
            f"{figures['pages_per_s']:.0f} pages/s vs {figures['base_pages_per_s']:.0f}"
            f" ({figures['ratio']:.2f}x; target >= {SPEED_TARGET}x)",
        )
    crashes = sum(len(t.crashed) for t in [*tallies.values(), *mutated.values()])
    slow = [kind for kind, figures in speed.items() if figures["ratio"] < SPEED_TARGET]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "robustness.json"
    out.write_text(
        json.dumps(
            {
                "corpus": str(args.corpus),
                "sample": args.sample,
                "seed": args.seed,
                "real": {kind: tally.as_dict() for kind, tally in sorted(tallies.items())},
                "mutants": {kind: tally.as_dict() for kind, tally in sorted(mutated.items())},
                "speed": speed | {"base": args.base, "target_ratio": SPEED_TARGET},
                "crashed": crashes,
            },
            indent=1,
        )
    )
    print(f"\ncrashed: {crashes}; slower than {SPEED_TARGET}x: {slow or 'none'}; wrote {out}")
    return 1 if crashes or slow else 0


if __name__ == "__main__":
    sys.exit(main())
