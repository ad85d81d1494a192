"""Fit the relevance maps (``src/tasksift/search/relevance.json``) and measure their
calibration on collections they were not fit on.

    python bench/relevance_fit.py [--write]

From the candidates bench/fusion_offline.py caches (run it first), each judged query's top
10 hits are taken as each mode ranks them (hybrid with the shipped adaptive fusion, dense,
lexical), with the features ``tasksift.search.relevance`` reads; a hit is relevant when the
judgments grade it above 0. A logistic regression per mode is fit on SciFact's train split
and the texindex and debman collections, then scored on SciFact's test queries, pyfaq and
pyglossary, which it never saw: expected calibration error (10 equal-width bins) and Brier
score, beside the base rate's Brier score (a constant guess). ``--write`` ships the fit.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from common import record
from fusion_offline import candidates, minmax
from tasksift.search.fusion import Fusion, weigh
from tasksift.search.relevance import FEATURES

FIT = "scifact-train,texindex,debman"
HELD_OUT = "scifact,pyfaq,pyglossary"
TOP = 10
BINS = 10
SHIPPED = Path(__file__).resolve().parent.parent / "src/tasksift/search/relevance.json"


def top_hits(query: dict, mode: str) -> list[dict[str, float]]:
    """Feature rows (and ``label`` placeholders) of one query's top hits in ``mode``."""
    dense, lexical = np.asarray(query["dense"]), np.asarray(query["lexical"])
    if mode == "hybrid":
        weight = weigh(Fusion(), dense, lexical)
        score = weight.alpha * minmax(dense) + (1 - weight.alpha) * minmax(lexical)
        keep = np.ones(len(score), bool)
    else:
        score = dense if mode == "dense" else lexical
        keep = np.asarray(query[f"{mode}_rank"]) > 0
    order = [i for i in np.lexsort((np.array(query["docs"]), -score)) if keep[i]][:TOP]
    top_lexical = max((lexical[i] for i in order), default=0.0)
    return [
        {"doc": query["docs"][i], "fused": float(score[i]), "dense": float(dense[i]),
         "lexical_share": float(lexical[i] / top_lexical) if top_lexical > 0 else 0.0,
         "log_rank": math.log2(rank)}
        for rank, i in enumerate(order, start=1)
    ]  # fmt: skip


def table(names: tuple[str, ...], mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and collection of every top hit of every judged query."""
    rows, labels, where = [], [], []
    for n, name in enumerate(names):
        data = candidates(name)
        for query in data["queries"]:
            gains = data["qrels"][query["qid"]]
            for hit in top_hits(query, mode):
                rows.append([hit[f] for f in FEATURES[mode]])
                labels.append(gains.get(hit["doc"], 0) > 0)
                where.append(n)
    return np.array(rows), np.array(labels, float), np.array(where)


def ece(p: np.ndarray, y: np.ndarray) -> float:
    """Expected calibration error over ``BINS`` equal-width bins of the estimate."""
    bins = np.minimum((p * BINS).astype(int), BINS - 1)
    return float(sum(abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean()
                     for b in range(BINS) if (bins == b).any()))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {SHIPPED.name}")
    parser.add_argument("--fit", default=FIT, help="collections to fit on")
    parser.add_argument("--held-out", default=HELD_OUT, help="collections to score")
    args = parser.parse_args()
    fit, held_out = tuple(args.fit.split(",")), tuple(args.held_out.split(","))
    shipped, report = {}, {}
    print(f"top {TOP} hits per judged query; fit on {', '.join(fit)}")
    print(f"{'mode':<8}{'collection':<15}{'hits':>7}{'base rate':>10}{'mean p':>8}"
          f"{'ECE':>8}{'Brier':>8}{'Brier(base)':>12}")  # fmt: skip
    for mode in FEATURES:
        x, y, _ = table(fit, mode)
        model = LogisticRegression(C=10.0, max_iter=1000).fit(x, y)
        shipped[mode] = {"features": list(FEATURES[mode]),
                         "weights": [round(float(w), 6) for w in model.coef_[0]],
                         "intercept": round(float(model.intercept_[0]), 6)}  # fmt: skip
        hx, hy, hwhere = table(held_out, mode)
        for n, name in [*enumerate(held_out), (None, "held out, all")]:
            mask = np.ones(len(hy), bool) if n is None else hwhere == n
            p, t = model.predict_proba(hx[mask])[:, 1], hy[mask]
            base = float(((t - t.mean()) ** 2).mean())
            figures = {"hits": int(mask.sum()), "base_rate": float(t.mean()),
                       "mean_p": float(p.mean()), "ece": ece(p, t),
                       "brier": float(((p - t) ** 2).mean()), "brier_base": base}  # fmt: skip
            report.setdefault(mode, {})[name] = figures
            print(f"{mode:<8}{name:<15}{figures['hits']:>7}{figures['base_rate']:>10.3f}"
                  f"{figures['mean_p']:>8.3f}{figures['ece']:>8.3f}{figures['brier']:>8.3f}"
                  f"{base:>12.3f}")  # fmt: skip
    record("fit_on", fit)
    record("calibration", report)
    record("shipped", shipped)
    if args.write:
        SHIPPED.write_text(json.dumps(shipped, indent=1) + "\n")
        print(f"written {SHIPPED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
