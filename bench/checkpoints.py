"""Checkpoint cost and indexing speed through the real model, at about 2k and 20k chunks.

    python bench/checkpoints.py [--sizes 2000,20000] [--work DIR]

The corpus is real text nobody on this project wrote: the SciFact abstracts and the
sections of the Python 3.11 manual (Debian's ``python3.11-doc``, as bench/build_collections.py
cuts it; its bench/results/collections output is reused when it is there), shuffled together
with a fixed seed and written one document a ``.txt`` file. Each size is the shortest prefix
of that order whose chunk count (estimated with the model's tokenizer) reaches it, so every
size has the same mix of texts; the real count is the index's.

Each size is indexed from scratch by ``pipeline.build_index`` with the default model and
options, nothing replaced, in a child process of its own. In it, the writer's commit methods
(``Writer._commit``, and any ``_commit*`` / ``_checkpoint*`` method of the pipeline's classes:
see ``common.CommitTimer``) are wrapped with a timer. Prints, per size:

* ``checkpoint_s``: time in commits; ``run_s``: the whole ``build_index`` call; their share
  (target: <= 10% at 20k chunks);
* ``chunks_per_s``: chunks / seconds from the first ``embed_chunks`` call to the end of the
  run (embedding and every checkpoint; model loading and the query encoder export, the same
  at every size, left out), and ``run_chunks_per_s`` over the whole run. Before the first
  call is timed, its first two batches are encoded once untimed, so that the model's
  warm-up (first forward passes) does not weigh on the small size; that warm-up is left out
  of ``run_s`` as well;
* the ratio chunks/s(largest) / chunks/s(smallest) (target: >= 0.95, no slowdown as the index
  grows), and the estimated duration of the full run when smaller sizes were asked for.

The 20k run takes a few minutes on 2 cores; develop with ``--sizes 500,2000``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from common import CORPUS, RESULTS, CommitTimer, require_scifact, run_checked

DEFAULT_SIZES = "2000,20000"
DEFAULT_WORK = RESULTS / "checkpoints"
PYDOCS = RESULTS / "collections" / "pydocs" / "corpus.jsonl.gz"
SEED = 12
PER_FOLDER = 500
CHUNK_TOKENS, OVERLAP = 254, 32  # the default model's chunking, for the estimate only
SHARE_TARGET = 0.10
RATIO_TARGET = 0.95
TARGET_CHUNKS = 20_000  # the checkpoint share target applies from this size


def _jsonl(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def real_documents() -> list[str]:
    """SciFact abstracts and Python manual sections, shuffled with a fixed seed."""
    texts = [f"{d['title']}\n\n{d['text']}\n" for d in _jsonl(CORPUS)]
    if PYDOCS.is_file():
        manual = _jsonl(PYDOCS)
    else:
        from build_collections import HTML_ROOT, build

        if not HTML_ROOT.is_dir():
            print(f"# note: no Python manual at {HTML_ROOT} (apt-get install python3.11-doc): "
                  "SciFact alone, about 10k chunks")  # fmt: skip
            manual = []
        else:
            manual = build(HTML_ROOT).docs
    texts += [f"{d['title']}\n\n{d['text']}\n" for d in manual]
    order = np.random.default_rng(SEED).permutation(len(texts))
    return [texts[i] for i in order]


def estimated_chunks(texts: list[str]) -> list[int]:
    """Chunks each text makes: token windows of the default model, overlapping."""
    from tokenizers import Tokenizer

    from tasksift.vectors.models import DEFAULT_MODEL, locate_model

    tokenizer = Tokenizer.from_file(str(locate_model(DEFAULT_MODEL).path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    counts = [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    stride = CHUNK_TOKENS - OVERLAP
    return [1 if n <= CHUNK_TOKENS else 1 + math.ceil((n - CHUNK_TOKENS) / stride) for n in counts]


def write_corpus(folder: Path, texts: list[str]) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    for number, text in enumerate(texts):
        sub = folder / f"d{number // PER_FOLDER:03d}"
        if number % PER_FOLDER == 0:
            sub.mkdir(parents=True)
        (sub / f"{number:06d}.txt").write_text(text, encoding="utf-8")


class _Quiet:
    """A reporter that reports nothing (for the untimed warm-up batches)."""

    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


def child_build(corpus: Path, index: Path) -> None:
    """Index ``corpus`` with the real model, commits timed; print a JSON summary."""
    import tasksift.pipeline
    from tasksift.pipeline import IndexOptions, build_index
    from tasksift.pipeline import model as model_module

    timer = CommitTimer.install()
    original = model_module.embed_chunks
    seen = {"first": None, "chars": 0, "warmup": 0.0}

    def embed_chunks(embedder, chunks, prompts, batch_size, reporter) -> np.ndarray:  # noqa: ANN001
        if seen["first"] is None:  # warm the model up (first batches), outside the timings
            began = time.perf_counter()
            original(embedder, chunks[: 2 * batch_size], prompts, batch_size, _Quiet())
            seen["first"] = time.perf_counter()
            seen["warmup"] = seen["first"] - began
        seen["chars"] += sum(len(c.text) for c in chunks)
        return original(embedder, chunks, prompts, batch_size, reporter)

    for name, module in list(sys.modules.items()):  # only observes: the real function runs
        if name.startswith(tasksift.pipeline.__name__) and (
            getattr(module, "embed_chunks", None) is original
        ):
            module.embed_chunks = embed_chunks
    began = time.perf_counter()
    summary = build_index(corpus, index, IndexOptions())
    ended = time.perf_counter()
    first = seen["first"] if seen["first"] is not None else ended
    print(
        json.dumps(
            {
                "chunks": summary.chunks,
                "embedded": summary.embedded,
                "run_s": ended - began - seen["warmup"],
                "warmup_s": seen["warmup"],
                "steady_s": ended - first,
                "embed_s": getattr(summary, "embed_seconds", float("nan")) - seen["warmup"],
                "checkpoint_s": timer.seconds,
                "commits": timer.commits,
                "commit_methods": timer.describe(),
                "chars_per_chunk": seen["chars"] / max(summary.embedded, 1),
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="chunks, e.g. 500,2000")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--child-build", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build:
        child_build(*args.child_build)
        return 0
    require_scifact()
    sizes = sorted(
        {int(float(s.strip().lower().replace("k", "e3"))) for s in args.sizes.split(",")}
    )
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    texts = real_documents()
    reach = np.cumsum(estimated_chunks(texts))
    print(f"# real text: {len(texts)} documents, about {int(reach[-1])} chunks")
    results = []
    for size in sizes:
        count = min(int(np.searchsorted(reach, size)) + 1, len(texts))
        if reach[count - 1] < size:
            print(f"# note: only about {int(reach[-1])} chunks of real text; {size} not reached")
        corpus, index = work / f"corpus-{size}", work / f"index-{size}"
        write_corpus(corpus, texts[:count])
        if index.exists():
            shutil.rmtree(index)
        print(f"# {size}: indexing {count} documents with the model ...", flush=True)
        timed = run_checked(
            [sys.executable, __file__, "--child-build", str(corpus), str(index)],
            f"indexing {corpus}",
        )
        r = json.loads(timed.stdout.strip().splitlines()[-1])
        for line in timed.stderr.splitlines():
            if line.startswith("# note"):
                print(line)
        r.update(documents=count, peak_rss_mib=timed.peak_rss_mib, asked=size)
        r["share"] = r["checkpoint_s"] / r["run_s"]
        r["chunks_per_s"] = r["embedded"] / r["steady_s"]
        r["run_chunks_per_s"] = r["embedded"] / r["run_s"]
        results.append(r)
        print(
            f"chunks={r['chunks']} run_s={r['run_s']:.1f} checkpoint_s={r['checkpoint_s']:.2f} "
            f"checkpoint_share={100 * r['share']:.1f}% chunks_per_s={r['chunks_per_s']:.1f} "
            f"run_chunks_per_s={r['run_chunks_per_s']:.1f}"
        )
        print(
            f"#   documents={count} commits={r['commits']} warmup_s={r['warmup_s']:.1f} "
            f"embed_only_chunks_per_s={r['embedded'] / r['embed_s']:.1f} "
            f"chars_per_chunk={r['chars_per_chunk']:.0f} peak_rss_mib={r['peak_rss_mib']:.0f} "
            f"timed: {r['commit_methods']}",
            flush=True,
        )
    return 0 if summarize(results, sizes) else 1


def summarize(results: list[dict], sizes: list[int]) -> bool:
    """Ratios against the smallest size, the targets, and the full run's estimated length."""
    met = True
    if len(results) > 1:
        small, large = results[0], results[-1]
        ratio = large["chunks_per_s"] / small["chunks_per_s"]
        whole = large["run_chunks_per_s"] / small["run_chunks_per_s"]
        ok = ratio >= RATIO_TARGET
        applies = large["chunks"] >= TARGET_CHUNKS * 0.9
        met &= ok or not applies
        verdict = ("ok" if ok else "MISSED") if applies else "applies to the full run only"
        print(
            f"ratio chunks_per_s chunks={large['chunks']} / chunks={small['chunks']}: {ratio:.3f} "
            f"(target >= {RATIO_TARGET} at 20k / 2k: {verdict}); whole run "
            f"{whole:.3f}; checkpoint share {100 * small['share']:.1f}% -> "
            f"{100 * large['share']:.1f}%"
        )
    for r in results:
        if r["chunks"] >= TARGET_CHUNKS * 0.9:
            ok = r["share"] <= SHARE_TARGET
            met &= ok
            print(
                f"# target at chunks={r['chunks']}: checkpoint share {100 * r['share']:.1f}% "
                f"<= {100 * SHARE_TARGET:.0f}% {'ok' if ok else 'MISSED'}"
            )
    full = [int(s) for s in DEFAULT_SIZES.split(",")]
    if sizes != full and results:
        rate = results[-1]["chunks_per_s"]
        setup = max(r["run_s"] - r["steady_s"] for r in results)
        seconds = sum(s / rate + setup + 5 for s in full)  # 5 s: the child's start-up
        print(
            f"# the full run (python bench/checkpoints.py, sizes {DEFAULT_SIZES}) would take "
            f"about {seconds / 60:.1f} min at the {rate:.0f} chunks/s measured here"
        )
    return met


if __name__ == "__main__":
    sys.exit(main())
