"""Retrieval adapters on SciFact: the default model against the same model with a LoRA
adapter that `tasksift adapt` trained from the corpus's pseudo-queries alone (no
judgments), and with --kinds, ones trained on SciFact's train split alone (``judgments``:
--pairs with --no-pseudo-queries) or on both (``pseudo+judgments``).

    python bench/adapters.py [--collection scifact] [--docs N] [--max-steps 100]
        [--batch-size 32] [--learning-rate 1e-3] [--max-length 128]
        [--kinds pseudo,judgments,pseudo+judgments] [--reuse-base]

Training settings left out are adapt's defaults.

--collection names SciFact or one of bench/build_manual_collections.py's and
bench/build_collections.py's collections (texindex, debman, pyfaq, pyglossary; the last two
share the pydocs corpus); those have no train split, so only ``pseudo`` applies. With
--reuse-base the base index is the one bench/fusion.py built (bench/results/NAME.tasksift).

For each: nDCG@10 dense and hybrid on the test queries (`tasksift eval`), the training's
wall time and peak RSS (a `tasksift adapt` process), the adapter's size on disk, and the
held-out MRR@10 `adapt` reports before and after. With --docs N, a subset of the corpus is
used: every document the test queries judge relevant, and others drawn at random (seed 13)
up to N, so that every test query keeps its answers; the figures then hold for that
subset only, and say so.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import sys
from pathlib import Path

from common import (
    CORPUS,
    QRELS,
    RESULTS,
    SCIFACT,
    TASKSIFT,
    record,
    require_scifact,
    row,
    run_checked,
)
from fusion import Collection, collection
from tasksift.adapt.train import TrainSettings

TRAIN_QUERIES = SCIFACT / "train" / "queries.jsonl"
TRAIN_QRELS = SCIFACT / "train" / "qrels.tsv"
HELD_OUT = re.compile(
    r"MRR@10 \((\d+) (?:pseudo-queries|of your pairs) among (\d+) passages\): ([\d.]+) before, "
    r"([\d.]+) after"
)


def subset_corpus(docs: int) -> Path:
    """A corpus of ``docs`` documents holding every one the test queries judge."""
    target = RESULTS / f"scifact-{docs}.jsonl.gz"
    if target.is_file():
        return target
    judged = {line.split("\t")[1] for line in QRELS.read_text().splitlines()[1:] if line}
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    keep = [line for line in lines if json.loads(line)["_id"] in judged]
    others = [line for line in lines if json.loads(line)["_id"] not in judged]
    random.Random(13).shuffle(others)
    keep += others[: max(0, docs - len(keep))]
    with gzip.open(target, "wt", encoding="utf-8") as handle:
        handle.writelines(keep)
    return target


def judgment_pairs() -> Path:
    """SciFact's train split as `adapt --pairs` JSON Lines (query, doc_id)."""
    target = RESULTS / "scifact-train-pairs.jsonl"
    texts = {}
    for line in TRAIN_QUERIES.read_text(encoding="utf-8").splitlines():
        if line.strip():
            query = json.loads(line)
            texts[query["_id"]] = query["text"]
    with target.open("w", encoding="utf-8") as out:
        for line in TRAIN_QRELS.read_text().splitlines()[1:]:
            qid, doc, score = line.split("\t")
            if int(score) > 0 and qid in texts:
                out.write(json.dumps({"query": texts[qid], "doc_id": doc}) + "\n")
    return target


def build(corpus: Path, index: Path, adapter: Path | None, reuse: bool = False) -> str:
    """Index ``corpus`` (with ``adapter``) from scratch, or reuse an index there; its wall
    time and peak RSS."""
    if reuse and (index / "CURRENT").is_file():
        return "reused (built by an earlier run)"
    shutil.rmtree(index, ignore_errors=True)
    extra = ["--adapter", str(adapter)] if adapter else []
    timed = run_checked(
        [*TASKSIFT, "index", str(corpus), "--index", str(index), "-q", *extra], "indexing"
    )
    return f"{timed.seconds:.1f}, {timed.peak_rss_mib:.0f}"


def named(name: str) -> Collection:
    """A collection as bench/fusion.py knows it; its index there is the base to reuse."""
    if name == "scifact":
        require_scifact()
    found = collection(name)
    if not found.qrels.is_file():
        sys.exit(f"{found.qrels} is missing; build it with bench/build_manual_collections.py")
    return found


def evaluate(index: Path, target: Collection) -> dict[str, float]:
    """nDCG@10 (percent) of the dense and hybrid runs on the test queries."""
    command = [*TASKSIFT, "eval", "--queries", str(target.queries),
               "--qrels", str(target.qrels),
               "--index", str(index), "--mode", "all", "--format", "json"]  # fmt: skip
    timed = run_checked(command, "eval")
    runs = json.loads(timed.stdout)["runs"]
    return {mode: 100 * runs[mode]["nDCG@10"] for mode in ("dense", "hybrid", "lexical")}


def adapt(index: Path, out: Path, args: argparse.Namespace, kind: str) -> dict:
    given = {"--max-steps": args.max_steps, "--batch-size": args.batch_size,
             "--learning-rate": args.learning_rate, "--max-length": args.max_length}  # fmt: skip
    steps = [str(part) for flag, value in given.items() if value for part in (flag, value)]
    command = [*TASKSIFT, "adapt", "--index", str(index), "--out", str(out), "--overwrite",
               *steps, "-q"]  # fmt: skip
    command += ["--pairs", str(judgment_pairs())] if "judgments" in kind else []
    command += [] if "pseudo" in kind else ["--no-pseudo-queries"]
    timed = run_checked(command, "adapt")
    found = HELD_OUT.search(timed.stdout)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    return {
        "seconds": timed.seconds,
        "peak_rss_mib": timed.peak_rss_mib,
        "bytes": size,
        "held_out": found and {"queries": int(found[1]), "pool": int(found[2]),
                               "before": float(found[3]), "after": float(found[4])},
        "stdout": timed.stdout.strip(),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--docs", type=int, default=None, help="a subset of N documents")
    # each left out takes adapt's default (tasksift.adapt.train.TrainSettings)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--tag", default="", help="a suffix that keeps this run's outputs apart")
    parser.add_argument("--kinds", default="pseudo", help="pseudo, judgments, pseudo+judgments")
    parser.add_argument("--reuse-base", action="store_true", help="keep a base index built before")
    args = parser.parse_args()
    chosen = named(args.collection)
    if args.docs and chosen.name != "scifact":
        sys.exit("--docs subsets SciFact only")
    if chosen.name != "scifact" and args.kinds != "pseudo":
        sys.exit(f"{chosen.name} has no train split: --kinds pseudo only")
    RESULTS.mkdir(parents=True, exist_ok=True)
    corpus = subset_corpus(args.docs) if args.docs else chosen.corpus
    what = f"a subset of {args.docs} documents" if args.docs else "the whole corpus"
    defaults = TrainSettings()
    print(f"{chosen.name} ({what}), all-MiniLM-L6-v2, {args.max_steps or defaults.steps} steps"
          f" of {args.batch_size or defaults.batch_size}, learning rate "
          f"{args.learning_rate or defaults.learning_rate}, training texts cut to "
          f"{args.max_length or defaults.max_length} tokens")  # fmt: skip
    record("corpus", str(corpus))
    tag = f"{chosen.name}-{args.docs or 'all'}{args.tag}"
    base_index = RESULTS / f"adapters-base-{tag}.tasksift"
    if args.reuse_base and not args.docs and (chosen.index / "CURRENT").is_file():
        base_index = chosen.index
    row("index, base: s, peak RSS MiB", build(corpus, base_index, None, args.reuse_base))
    scores = {"base": evaluate(base_index, chosen)}
    for name in args.kinds.split(","):
        out = RESULTS / f"adapter-{name}-{tag}"
        trained = adapt(base_index, out, args, name)
        record(f"adapt {name}", trained)
        held = trained["held_out"] or {}
        row(
            f"adapt {name}: s, peak RSS MiB",
            f"{trained['seconds']:.1f}, {trained['peak_rss_mib']:.0f}",
        )
        row(f"adapt {name}: adapter size KiB", f"{trained['bytes'] / 1024:.0f}")
        row(f"adapt {name}: held-out MRR@10 before -> after",
            f"{held.get('before')} -> {held.get('after')} ({held.get('queries')} queries, "
            f"{held.get('pool')} passages)")  # fmt: skip
        index = RESULTS / f"adapters-{name}-{tag}.tasksift"
        row(f"index, {name} adapter: s, peak RSS MiB", build(corpus, index, out))
        scores[name] = evaluate(index, chosen)
    record("nDCG@10", scores)
    for name, score in scores.items():
        for mode in ("dense", "hybrid"):
            ratio = score[mode] / scores["base"][mode]
            row(f"nDCG@10 {mode}, {name}", f"{score[mode]:.2f}  (x{ratio:.4f} of base)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
