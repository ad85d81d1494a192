"""Query speed on SciFact: batch throughput, and one search as a new process.

    python bench/queries.py [--index PATH] [--runs 5]

Batch: the 300 SciFact queries through the search pipeline in this process, index and
model loading excluded, the median of five passes, in hybrid (the default; target >= 200
queries/s on a 2-core machine), dense and lexical mode. Single: the median wall time of
`tasksift search "..."` as a new process, hybrid (target <= 1.0 s) and dense, beside the
median time of `python -c "import sentence_transformers"` measured in the same run, and
their ratio.
Also: whether the fast (ONNX) and torch query paths rank all 300 queries the same,
and the start-up time of `tasksift --help` and `tasksift info` (target <= 0.3 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from common import (
    DEFAULT_INDEX,
    QUERIES,
    TASKSIFT,
    ensure_index,
    median_wall,
    require_scifact,
    row,
    run_timed,
    self_peak_mib,
)

BATCH_TARGET = 200.0  # hybrid queries/s
MODES = ("hybrid", "dense", "lexical")


def _queries() -> list[str]:
    return [json.loads(line)["text"] for line in QUERIES.read_text().splitlines()]


def batch_throughput(index: Path, k: int, mode: str, repeats: int = 5) -> tuple[float, int]:
    """Queries/s through the search pipeline, index and model loading excluded: the median
    of ``repeats`` passes over the queries (one pass varies by 10% or more)."""
    from tasksift.options import SearchMode, SearchRequest
    from tasksift.search.searcher import Searcher

    texts = _queries()
    searcher = Searcher.open(index, SearchRequest(), mode=SearchMode(mode))
    searcher.search(texts[:8], k)  # warm up
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        searcher.search(texts, k)
        rates.append(len(texts) / (time.perf_counter() - began))
    return statistics.median(rates), len(texts)


def fast_equals_torch(index: Path, k: int) -> tuple[int, int, float]:
    """Queries ranked identically by both paths, their count, and the lowest cosine."""
    import numpy as np

    from tasksift.index.reader import read_manifest
    from tasksift.onnx.embedder import load_index_model
    from tasksift.options import SearchMode, SearchRequest
    from tasksift.search.searcher import Searcher

    texts = _queries()
    fast = Searcher.open(index, SearchRequest(), mode=SearchMode.DENSE)
    if fast.notes:
        sys.exit(f"no fast path: {fast.notes[0]}")
    torch = Searcher(fast.index, load_index_model(read_manifest(index)))
    same = sum(
        [h.doc_id for h in a] == [h.doc_id for h in b]
        for a, b in zip(fast.search(texts, k), torch.search(texts, k), strict=True)
    )
    cosines = np.sum(fast.encode(texts) * torch.encode(texts), axis=1)
    return same, len(texts), float(cosines.min())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    require_scifact()
    ensure_index(args.index)

    single = [*TASKSIFT, "search", "vitamin D and bone density", "--index", str(args.index)]
    search_median, search_times = median_wall(single, args.runs)
    dense_median, _ = median_wall([*single, "--mode", "dense"], args.runs)
    import_median, _ = median_wall(
        [sys.executable, "-c", "import sentence_transformers"], args.runs
    )
    peak = run_timed(single).peak_rss_mib
    batch_job = [*TASKSIFT, "search", "--queries", str(QUERIES), "--index", str(args.index)]
    whole_batch = run_timed(batch_job)

    rates = {mode: batch_throughput(args.index, args.k, mode) for mode in MODES}
    rate, count = rates["hybrid"]
    same, total, cosine = fast_equals_torch(args.index, args.k)
    row(
        f"batch: {count} queries, queries/s (loading excluded)",
        " | ".join(f"{m} {r:.0f}" for m, (r, _) in rates.items())
        + f"  (hybrid target >= {BATCH_TARGET:.0f})",
    )
    row("batch: whole `search --queries` process s", f"{whole_batch.seconds:.2f}")
    row("batch: peak RSS MiB (this process)", f"{self_peak_mib():.0f}")
    row(f"single hybrid search, new process, median of {args.runs} s", f"{search_median:.3f}")
    row("single dense search, same, s", f"{dense_median:.3f}")
    row("  runs", ", ".join(f"{t:.2f}" for t in search_times))
    row("  peak RSS MiB", f"{peak:.0f}")
    row("import sentence_transformers, median s", f"{import_median:.3f}")
    row("ratio single search / import", f"{search_median / import_median:.3f}")
    row(f"fast = torch path, top-{args.k} documents", f"{same}/{total} queries identical")
    row("lowest query cosine fast vs torch", f"{cosine:.6f}  (target >= 0.9999)")
    help_median, _ = median_wall([*TASKSIFT, "--help"], args.runs)
    info_median, _ = median_wall([*TASKSIFT, "info", "--index", str(args.index)], args.runs)
    row("tasksift --help | info, median s", f"{help_median:.3f} | {info_median:.3f}")
    met = rate >= BATCH_TARGET and same == total and cosine >= 0.9999 and search_median <= 1.0
    print("targets:", "met" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
