"""Retrieval quality of the default pipeline on SciFact: hybrid, dense and lexical, ANN
and exact.

    python bench/quality.py [--index PATH] [--rebuild]

Prints nDCG@10, Recall@100, MRR@10 and MAP of hybrid (the default), dense and lexical
search, with the graph (ANN) and with exact cosine search on the dense side, against the
published dense figure for all-MiniLM-L6-v2 (MTEB nDCG@10 64.51). Exits non-zero when
hybrid scores below 71.0, dense below 64.5, or ANN is more than 0.2 points below exact.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import (
    DEFAULT_INDEX,
    QRELS,
    QUERIES,
    TASKSIFT,
    ensure_index,
    require_scifact,
    row,
    run_checked,
)

PUBLISHED_NDCG10 = 64.51
FLOOR = 64.5
HYBRID_FLOOR = 71.0
MODES = ("hybrid", "dense", "lexical")
MAX_ANN_LOSS = 0.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    require_scifact()
    ensure_index(args.index, args.rebuild)
    command = [*TASKSIFT, "eval", "--queries", str(QUERIES), "--qrels", str(QRELS),
               "--index", str(args.index), "--mode", "all", "--exact",
               "--format", "json"]  # fmt: skip
    timed = run_checked(command, "eval")
    report = json.loads(timed.stdout)
    runs = report["runs"]
    print(f"SciFact, {report['queries']} judged queries, default model (all-MiniLM-L6-v2)")
    print(f"{'':<34}{'hybrid':>9}{'dense':>9}{'lexical':>9}")
    for name in ("nDCG@10", "Recall@100", "MRR@10", "MAP"):
        for kind, suffix in (("ANN", ""), ("exact", " exact")):
            cells = [runs.get(f"{mode}{suffix}", runs.get(mode)) for mode in MODES]
            print(f"{name + '  ' + kind:<34}" + "".join(f"{100 * c[name]:9.2f}" for c in cells))
    hybrid, dense = 100 * runs["hybrid"]["nDCG@10"], 100 * runs["dense"]["nDCG@10"]
    row("published MTEB nDCG@10 (dense)", f"{PUBLISHED_NDCG10:6.2f}")
    row("ratio dense ANN / published", f"{dense / PUBLISHED_NDCG10:.4f}")
    row("ratio hybrid / dense", f"{hybrid / dense:.4f}")
    row("ANN recall@10 against exact (hybrid)", f"{report['ann_recall@10_vs_exact']:.4f}")
    row("eval wall time (s), peak RSS (MiB)", f"{timed.seconds:.1f}, {timed.peak_rss_mib:.0f}")
    failures = []
    if hybrid < HYBRID_FLOOR:
        failures.append(f"hybrid nDCG@10 {hybrid:.2f} < {HYBRID_FLOOR}")
    if dense < FLOOR:
        failures.append(f"dense nDCG@10 {dense:.2f} < {FLOOR}")
    for mode in ("hybrid", "dense"):
        loss = 100 * (runs[f"{mode} exact"]["nDCG@10"] - runs[mode]["nDCG@10"])
        if loss > MAX_ANN_LOSS:
            failures.append(f"{mode} ANN is {loss:.2f} points below exact")
    print("targets:", "met" if not failures else "MISSED: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
