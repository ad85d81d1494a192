"""Dense-side pseudo-relevance feedback (Rocchio on the query vector), measured offline on
the five collections of bench/fusion_offline.py.

    python bench/fusion_rocchio.py

The query vector moves toward the mean of its top ``k`` dense chunk vectors (stored in the
index, so no model cost beyond the query's own encoding): ``q' = q + beta * mean(top k)``,
renormalized. The dense side is then searched again with ``q'`` (graph as shipped) and
fused with the unchanged BM25 side by the shipped adaptive rule. For each (k, beta) of a
small grid: nDCG@10 of dense alone and of adaptive fusion per collection; and the setting
chosen leave one index out (fit on the other indexes' collections, scored on the held-out
one). Prints a table and writes bench/results/fusion_rocchio.json.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from common import RESULTS
from fusion_offline import by_peaks, candidates, gather, judged_asked, ndcg10, only, paths

NAMES = ["scifact", "pyfaq", "pyglossary", "texindex", "debman"]
GRID = [(k, beta) for k in (3, 5, 10) for beta in (0.25, 0.5, 1.0)]


def with_feedback(name: str) -> dict[tuple[int, float], dict]:
    """The collection's candidates, as ``candidates`` caches them, for each (k, beta)."""
    from tasksift.options import SearchMode, SearchRequest
    from tasksift.search.dense import DenseRetriever
    from tasksift.search.searcher import Searcher

    judged, qrels, asked = judged_asked(name)
    searcher = Searcher.open(paths(name)[1], SearchRequest(), mode=SearchMode.HYBRID)
    dense, lexical = searcher.retrievers()
    texts = [q.text for q in asked]
    first, lexical_side = dense.query(texts, None), lexical.query(texts, None)
    index = searcher.index
    vectors = np.stack([d.vector for d in first]).astype(np.float32)
    out = {}
    for k, beta in GRID:
        top = [index.vectors.of(index.labels[d.top_rows(k).rows]).mean(axis=0) for d in first]
        moved = vectors + beta * np.stack(top)
        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
        side = DenseRetriever(index, searcher.embedder, None).for_vectors(moved, None)
        data = {"judged": judged, "qrels": {q: qrels[q] for q in judged}}
        out[(k, beta)] = data | {"queries": gather(searcher, asked, side, lexical_side)}
    return out


def main() -> int:
    adaptive = by_peaks(0.75, 0.1)
    index_of = {n: paths(n)[1].name for n in NAMES}
    plain = {n: candidates(n) for n in NAMES}
    table = {
        "dense": {n: 100 * ndcg10(plain[n], only("dense")).mean() for n in NAMES},
        "lexical": {n: 100 * ndcg10(plain[n], only("lexical")).mean() for n in NAMES},
        "adaptive (shipped)": {n: 100 * ndcg10(plain[n], adaptive).mean() for n in NAMES},
    }
    runs = {n: with_feedback(n) for n in NAMES}
    for k, beta in GRID:
        table[f"dense, rocchio k={k} b={beta}"] = {
            n: 100 * ndcg10(runs[n][(k, beta)], only("dense")).mean() for n in NAMES
        }
        table[f"adaptive, rocchio k={k} b={beta}"] = {
            n: 100 * ndcg10(runs[n][(k, beta)], adaptive).mean() for n in NAMES
        }
    chosen, held_out = {}, {}
    for n in NAMES:
        rest = [m for m in NAMES if index_of[m] != index_of[n]]
        best = max(GRID, key=lambda g: np.mean([table[f"adaptive, rocchio k={g[0]} b={g[1]}"][m]
                                                 for m in rest]))  # fmt: skip
        gain = np.mean([table[f"adaptive, rocchio k={best[0]} b={best[1]}"][m] for m in rest])
        base = np.mean([table["adaptive (shipped)"][m] for m in rest])
        best = best if gain > base else None  # feedback off where it does not pay on the rest
        chosen[n] = best
        label = (
            "adaptive (shipped)" if best is None else f"adaptive, rocchio k={best[0]} b={best[1]}"
        )
        held_out[n] = table[label][n]
    table["adaptive + rocchio, LOIO"] = held_out
    print("nDCG@10 (percent), cached judged queries; LOIO = setting fit on the other indexes")
    print(f"{'setting':<32}" + "".join(f"{n:>11}" for n in NAMES) + f"{'mean':>8}")
    for label, row in table.items():
        print(f"{label:<32}" + "".join(f"{row[n]:>11.2f}" for n in NAMES)
              + f"{np.mean(list(row.values())):>8.2f}")  # fmt: skip
    print("LOIO choice (k, beta), None = no feedback:", chosen)
    out = RESULTS / "fusion_rocchio.json"
    choice = {n: list(c) if c else None for n, c in chosen.items()}
    out.write_text(json.dumps({"ndcg@10": table, "loio_choice": choice}, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
