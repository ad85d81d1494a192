"""Retrieval quality of the default pipeline on SciFact: ANN and exact search.

    python bench/quality.py [--index PATH] [--rebuild]

Prints nDCG@10, Recall@100 and MRR@10 for the hnswlib search and for exact cosine search,
against the published figure for all-MiniLM-L6-v2 (MTEB nDCG@10 64.51). Exits non-zero when
the pipeline scores below 64.5 or ANN is more than 0.2 points below exact.
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
    run_timed,
)

PUBLISHED_NDCG10 = 64.51
FLOOR = 64.5
MAX_ANN_LOSS = 0.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    require_scifact()
    ensure_index(args.index, args.rebuild)
    command = [*TASKSIFT, "eval", "--queries", str(QUERIES), "--qrels", str(QRELS),
               "--index", str(args.index), "--exact", "--format", "json"]  # fmt: skip
    timed = run_timed(command)
    if timed.code != 0:
        sys.exit(f"eval failed: {timed.stderr.strip()}")
    report = json.loads(timed.stdout)
    ann, exact = report["runs"]["ANN (hnsw)"], report["runs"]["exact"]
    print(f"SciFact, {report['queries']} queries, default model (all-MiniLM-L6-v2)")
    for name in ("nDCG@10", "Recall@100", "MRR@10", "MAP"):
        row(f"{name}  ANN | exact", f"{100 * ann[name]:6.2f} | {100 * exact[name]:6.2f}")
    ndcg_ann, ndcg_exact = 100 * ann["nDCG@10"], 100 * exact["nDCG@10"]
    row("published MTEB nDCG@10", f"{PUBLISHED_NDCG10:6.2f}")
    row("ratio ANN / published", f"{ndcg_ann / PUBLISHED_NDCG10:.4f}")
    row("ANN recall@10 against exact", f"{report['ann_recall@10_vs_exact']:.4f}")
    row("eval wall time (s), peak RSS (MiB)", f"{timed.seconds:.1f}, {timed.peak_rss_mib:.0f}")
    failures = []
    if ndcg_ann < FLOOR:
        failures.append(f"nDCG@10 {ndcg_ann:.2f} < {FLOOR}")
    if ndcg_exact - ndcg_ann > MAX_ANN_LOSS:
        failures.append(f"ANN is {ndcg_exact - ndcg_ann:.2f} points below exact")
    print("targets:", "met" if not failures else "MISSED: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
