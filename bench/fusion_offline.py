"""Fusion studied offline: each collection's candidates searched once, every setting scored
from the cache. This is how adaptive fusion's rule (``options.AdaptiveRule``) was chosen.

    python bench/fusion_offline.py [--collections scifact,pyfaq,pyglossary,texindex,debman]

For each collection it opens the index as shipped (ANN graph), takes each side's top 100
documents per query, scores every candidate on both sides (as hybrid search does) and caches
document ids, dense and BM25 scores and ranks, and the query's analyzed term count under
bench/results/fusion_cache/NAME.pkl. Then it scores, from the cache: dense, lexical, convex
0.7 (the default today), convex 0.3, RRF k=60, the shipped adaptive rule and variants
tried against it (z-score normalisation; its peaks through a logistic link, at the best
in-sample point of a grid; TM2C2 normalisation, fixed and adaptive, at their best points
of a small grid), and a per-query weight that falls with the
query's length, alpha = clip(a - b * log2(terms)), whose (a, b) is chosen leave one index
out (fit on the collections of the other indexes, scored on this one's), the shipped
family likewise (base and slope, or the slope alone at the shipped base); then
bench/fusion_corpus.py's study of a per-corpus base weight (index-time statistics, leave
one index out). nDCG@10 here is
computed on the cached candidates (every judged query counted); it matches `tasksift eval`
for dense, lexical and the convex settings. Prints the tables and writes
bench/results/fusion_offline.json.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
from pathlib import Path

import numpy as np

from common import RESULTS

CACHE = RESULTS / "fusion_cache"
COLLECTIONS = RESULTS / "collections"
SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared/collections/scifact"
DEPTH = 100
GRID_A = np.round(np.arange(0.3, 1.01, 0.05), 2)
GRID_B = np.round(np.arange(0.0, 0.31, 0.025), 3)
GRID_PEAK = np.round(np.arange(0.0, 0.21, 0.025), 3)


def paths(name: str) -> tuple[Path, Path]:
    folder = {"scifact": SCIFACT, "scifact-train": SCIFACT / "train"}.get(name, COLLECTIONS / name)
    index = {"pyfaq": "pydocs", "pyglossary": "pydocs", "scifact-train": "scifact"}.get(name, name)
    return folder, RESULTS / f"{index}.tasksift"


def judged_asked(name: str) -> tuple[list[str], dict, list]:
    """A collection's judged query ids, its judgments, and its judged queries."""
    from tasksift.evaluate import judged_queries
    from tasksift.queries import read_qrels, read_queries

    folder = paths(name)[0]
    qrels = read_qrels(folder / "qrels.tsv")
    judged = judged_queries(list(qrels), qrels)
    asked = [q for q in read_queries(str(folder / "queries.jsonl")).queries if q.qid in judged]
    return judged, qrels, asked


def candidates(name: str) -> dict:
    """Per judged query: candidate doc ids, both sides' scores and ranks, term count."""
    cached = CACHE / f"{name}.pkl"
    if cached.is_file():
        return pickle.loads(cached.read_bytes())
    from tasksift.options import SearchMode, SearchRequest
    from tasksift.search.searcher import Searcher

    judged, qrels, asked = judged_asked(name)
    searcher = Searcher.open(paths(name)[1], SearchRequest(), mode=SearchMode.HYBRID)
    texts = [q.text for q in asked]
    dense_side, lexical_side = (r.query(texts, None) for r in searcher.retrievers())
    queries = gather(searcher, asked, dense_side, lexical_side)
    data = {"judged": judged, "qrels": {q: qrels[q] for q in judged}, "queries": queries}
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps(data))
    return data


def gather(searcher, asked, dense_side, lexical_side) -> list[dict]:  # noqa: ANN001
    """Per query: candidate doc ids (each side's top ``DEPTH`` documents), both sides' best
    chunk score and rank for each, and the query's length."""
    from tasksift.search.fusion import ranks_in, segment_best

    groups, doc_ids = searcher.index.documents, searcher.index.column("doc_id")
    analyzer = searcher.index.lexical.analyzer
    queries = []
    for q, dense, lexical in zip(asked, dense_side, lexical_side, strict=True):
        dense_docs = groups.codes[dense.top_documents(DEPTH).rows]
        lexical_docs = groups.codes[lexical.top_documents(DEPTH).rows]
        docs = np.unique(np.concatenate([dense_docs, lexical_docs]).astype(np.int64))
        rows, starts = groups.rows_of_many(docs)
        first_rows = rows[starts]
        queries.append({
            "qid": q.qid,
            "docs": [doc_ids[int(searcher.index.labels[r])].as_py() for r in first_rows],
            "dense": segment_best(dense.of_rows(rows), starts)[0],
            "lexical": segment_best(lexical.of_rows(rows), starts)[0],
            "dense_rank": ranks_in(docs, dense_docs),
            "lexical_rank": ranks_in(docs, lexical_docs),
            "terms": len(analyzer.terms(q.text)) if hasattr(analyzer, "terms") else None,
            "words": len(q.text.split()),
        })  # fmt: skip
    return queries


def minmax(x: np.ndarray) -> np.ndarray:
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high - low > 1e-12 else np.ones_like(x)


def ndcg10(data: dict, score) -> np.ndarray:  # noqa: ANN001
    """nDCG@10 per judged query of the ranking ``score(query) -> scores of its candidates``
    (NaN for a candidate means not returned)."""
    out = dict.fromkeys(data["judged"], 0.0)
    for q in data["queries"]:
        s = score(q)
        keep = ~np.isnan(s)
        docs = np.array(q["docs"])[keep]
        order = np.lexsort((docs, -s[keep]))[:10]
        gains = data["qrels"][q["qid"]]
        dcg = sum(gains.get(docs[i], 0) / math.log2(r + 2) for r, i in enumerate(order))
        ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:10]
        out[q["qid"]] = dcg / sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
    return np.array(list(out.values()))


def convex(alpha):  # noqa: ANN001, ANN201
    def score(q: dict) -> np.ndarray:
        a = alpha(q) if callable(alpha) else alpha
        return a * minmax(q["dense"]) + (1 - a) * minmax(q["lexical"])

    return score


def by_length(a: float, b: float):  # noqa: ANN201
    return convex(lambda q: float(np.clip(a - b * math.log2(max(q["words"], 1)), 0.1, 0.9)))


def by_peaks(a: float, b: float):  # noqa: ANN201
    """The shipped family: the rule ``AdaptiveRule(base=a, slope=b)`` applied by tasksift."""
    return convex(lambda q: by_peaks_alpha(a, b, np.asarray(q["dense"]), np.asarray(q["lexical"])))


def standard(x: np.ndarray) -> np.ndarray:
    """Scores as standard deviations from the candidates' mean (z-score normalisation)."""
    spread = x.std()
    return (x - x.mean()) / spread if spread > 1e-12 else np.zeros_like(x)


def z_convex(alpha: float):  # noqa: ANN201
    """Convex fusion of z-score normalised scores (instead of min-max)."""
    return lambda q: alpha * standard(q["dense"]) + (1 - alpha) * standard(q["lexical"])


def by_peaks_logistic(base: float, slope: float):  # noqa: ANN201
    """The shipped rule's features through a logistic link instead of a clipped line."""

    def peak(x: np.ndarray) -> float:
        spread = x.std()
        return float((x.max() - x.mean()) / spread) if spread > 1e-12 else 0.0

    def alpha(q: dict) -> float:
        gap = peak(np.asarray(q["dense"])) - peak(np.asarray(q["lexical"]))
        return 1 / (1 + math.exp(-(math.log(base / (1 - base)) + slope * gap)))

    return convex(alpha)


def theoretical_min(base: float, slope: float):  # noqa: ANN201
    """Bruch et al.'s TM2C2: each side scaled from its lowest possible score (cosine -1,
    BM25 0) to the query's best, under the shipped rule's weight (slope 0: a fixed one)."""

    def scaled(x: np.ndarray, low: float) -> np.ndarray:
        high = x.max()
        return (x - low) / (high - low) if high - low > 1e-12 else np.ones_like(x)

    def score(q: dict) -> np.ndarray:
        dense, lexical = np.asarray(q["dense"]), np.asarray(q["lexical"])
        a = by_peaks_alpha(base, slope, dense, lexical)
        return a * scaled(dense, -1.0) + (1 - a) * scaled(lexical, 0.0)

    return score


def by_peaks_alpha(base: float, slope: float, dense: np.ndarray, lexical: np.ndarray) -> float:
    """The dense weight tasksift's rule ``AdaptiveRule(base, slope)`` gives a query."""
    from tasksift.options import AdaptiveRule
    from tasksift.search.fusion import Fusion, weigh

    return weigh(Fusion(rule=AdaptiveRule(base=base, slope=slope)), dense, lexical).alpha


def only(side: str):  # noqa: ANN201
    return lambda q: np.where(q[f"{side}_rank"] > 0, q[side], np.nan)


def rrf(q: dict) -> np.ndarray:
    return sum(np.where(r > 0, 1 / (60 + r), 0.0) for r in (q["dense_rank"], q["lexical_rank"]))


def fit(
    datas: list[dict],
    family,  # noqa: ANN001
    grid_b: np.ndarray,
    grid_a: np.ndarray = GRID_A,
) -> tuple[float, float]:
    """(a, b) of ``family``, a from ``grid_a`` and b from ``grid_b``, with the best mean
    (over collections) nDCG@10."""
    best, chosen = -1.0, (0.7, 0.0)
    for a in grid_a:
        for b in grid_b:
            mean = float(np.mean([ndcg10(d, family(a, b)).mean() for d in datas]))
            if mean > best:
                best, chosen = mean, (float(a), float(b))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", default="scifact,pyfaq,pyglossary,texindex,debman")
    names = parser.parse_args().collections.split(",")
    datas = {n: candidates(n) for n in names}
    from tasksift.options import AdaptiveRule

    shipped = AdaptiveRule()
    settings = {"dense": only("dense"), "lexical": only("lexical"), "convex 0.7 (today)":
                convex(0.7), "convex 0.3": convex(0.3), "rrf k=60": rrf,
                "adaptive (shipped)": by_peaks(shipped.base, shipped.slope),
                "z-score convex 0.6": z_convex(0.6),
                "peaks, logistic .76/.5": by_peaks_logistic(0.76, 0.5),
                "TM2C2 convex 0.8": theoretical_min(0.8, 0.0),
                "TM2C2 adaptive .85/.05": theoretical_min(0.85, 0.05)}  # fmt: skip
    table = {label: {n: 100 * ndcg10(datas[n], f).mean() for n in names}
             for label, f in settings.items()}  # fmt: skip
    fitted: dict[str, dict[str, tuple[float, float]]] = {}
    base = np.array([shipped.base])
    for label, family, grid, bases in (
        ("by length", by_length, GRID_B, GRID_A),
        ("by peaks", by_peaks, GRID_PEAK, GRID_A),
        (f"slope, base {shipped.base:g}", by_peaks, GRID_PEAK, base),
    ):
        for n in names:
            # leave one index out: pyfaq and pyglossary share pydocs, scifact-train scifact
            others = [datas[m] for m in names if paths(m)[1] != paths(n)[1]]
            fitted.setdefault(label, {})[n] = fit(others, family, grid, bases)
            row = table.setdefault(f"{label}, LOIO", {})
            row[n] = 100 * ndcg10(datas[n], family(*fitted[label][n])).mean()
    print("nDCG@10 (percent) on the cached candidates, every judged query counted")
    print(f"{'setting':<22}" + "".join(f"{n:>12}" for n in names) + f"{'mean':>9}")
    for label, row in table.items():
        print(f"{label:<22}" + "".join(f"{row[n]:>12.2f}" for n in names)
              + f"{np.mean(list(row.values())):>9.2f}")  # fmt: skip
    print("LOIO fits (a, b):", fitted)
    surface = {float(b): 100 * float(np.mean([ndcg10(datas[n], by_peaks(shipped.base, b)).mean()
                                              for n in names])) for b in GRID_PEAK}  # fmt: skip
    print(f"mean by slope at base {shipped.base:g}:",
          ", ".join(f"{b:g}: {m:.2f}" for b, m in surface.items()))  # fmt: skip
    words = {n: float(np.mean([q["words"] for q in datas[n]["queries"]])) for n in names}
    print("mean query words:", {n: round(w, 1) for n, w in words.items()})
    from fusion_corpus import show, study

    print("\nPer-corpus base weight from index-time statistics (bench/fusion_corpus.py):")
    corpus = study(datas)
    show(corpus)
    out = RESULTS / "fusion_offline.json"
    out.write_text(json.dumps({"ndcg@10": table, "loio_fits": fitted, "query_words": words,
                               "slope_surface": surface,
                               "per_corpus": corpus}, indent=2))  # fmt: skip
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
