"""Can a per-corpus statistic, computed at index time with no judgments, set adaptive
fusion's base weight better than the fixed one? Measured offline, leave one index out.

    python bench/fusion_corpus.py [--pseudo 200]

Statistics per index (pyfaq and pyglossary share the pydocs index, so they share them):
- pseudo-queries the index makes from its own documents, of two kinds: a held-out
  sentence (5 to 30 words) of a random chunk, and the lead (first 8 words: the title, in
  these collections) of the first chunk, of documents with two chunks or more, searched by
  both sides; the document counts as relevant, scored by its *other* chunks only (the
  source chunk is masked, so neither side wins by matching the query's own text). From
  each kind: the base that maximizes pseudo nDCG@10 under the shipped rule (``KIND base``)
  and dense minus lexical pseudo nDCG@10 (``KIND gap``);
- mean chunk length in analyzed terms (``log2 length``).
Each feature sets a held-out index's base as ``a + c * (feature - its mean)``, (a, c)
fitted on the other indexes' collections (the shipped rule's slope and clip kept), against
the shipped rule and convex 0.7, on bench/fusion_offline.py's cached candidates. Prints a
table and writes bench/results/fusion_corpus.json; bench/fusion_offline.py reports it too.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

import numpy as np

from common import RESULTS
from fusion_offline import CACHE, DEPTH, by_peaks, candidates, convex, ndcg10, only, paths

NAMES = ["scifact", "pyfaq", "pyglossary", "texindex", "debman"]
GRID_A = np.round(np.arange(0.3, 1.01, 0.05), 2)
GRID_C = np.round(np.arange(-1.0, 1.01, 0.05), 2)


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n\s*\n", text)
    return [p.strip() for p in parts if 5 <= len(p.split()) <= 30]


def lead(text: str) -> str:
    return " ".join(text.split()[:8])


def pseudo(index_name: str, n: int, kind: str = "sentence", seed: int = 0) -> dict:
    """Pseudo-queries of one index, in the shape of ``fusion_offline.candidates``: a held-out
    ``sentence`` of a random chunk, or the ``lead`` (first 8 words, the title where the
    reader puts one first) of the document's first chunk."""
    cached = CACHE / f"pseudo-{kind}-{index_name}-{n}.pkl"
    if cached.is_file():
        import pickle

        return pickle.loads(cached.read_bytes())
    from pathlib import Path

    from tasksift.options import SearchMode, SearchRequest
    from tasksift.search.fusion import segment_best
    from tasksift.search.searcher import Searcher

    searcher = Searcher.open(
        Path(RESULTS / f"{index_name}.tasksift"), SearchRequest(), mode=SearchMode.HYBRID
    )
    groups, labels = searcher.index.documents, searcher.index.labels
    table = searcher.index.sidecar.table(["label", "doc_id", "ordinal", "text"])
    by_label = {int(x): i for i, x in enumerate(table.column("label").to_numpy())}
    texts, doc_ids = table.column("text").to_pylist(), table.column("doc_id").to_pylist()
    rng = np.random.default_rng(seed)
    chunks_of: dict[str, list[int]] = {}
    for i in np.argsort(table.column("ordinal").to_numpy(), kind="stable"):
        chunks_of.setdefault(doc_ids[i], []).append(int(i))
    multi = sorted(d for d, c in chunks_of.items() if len(c) > 1)
    asked: list[tuple[str, int, str]] = []
    for d in rng.permutation(multi):
        source = int(rng.choice(chunks_of[d])) if kind == "sentence" else chunks_of[d][0]
        found = sentences(texts[source]) if kind == "sentence" else [lead(texts[source])]
        if found:
            asked.append((str(d), source, str(found[rng.integers(len(found))])))
        if len(asked) == n:
            break
    dense_side, lexical_side = (r.query([a[2] for a in asked], None) for r in searcher.retrievers())
    analyzer = searcher.index.lexical.analyzer
    queries, qrels, lengths = [], {}, []
    for k, ((doc, source, text), dense, lexical) in enumerate(
        zip(asked, dense_side, lexical_side, strict=True)
    ):
        docs = np.unique(
            np.concatenate([
                groups.codes[dense.top_documents(DEPTH).rows],
                groups.codes[lexical.top_documents(DEPTH).rows],
            ]).astype(np.int64)
        )  # fmt: skip
        rows, starts = groups.rows_of_many(docs)
        keep = np.array([by_label[int(labels[r])] != source for r in rows])
        # drop the source chunk: its document is found through its other chunks only
        seg = np.repeat(np.arange(len(docs)), np.diff(np.append(starts, len(rows))))[keep]
        rows = rows[keep]
        new_starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
        docs = docs[np.unique(seg)]
        qid = f"p{k}"
        queries.append({
            "qid": qid,
            "docs": [doc_ids[by_label[int(labels[rows[s]])]] for s in new_starts],
            "dense": segment_best(dense.of_rows(rows), new_starts)[0],
            "lexical": segment_best(lexical.of_rows(rows), new_starts)[0],
            "dense_rank": np.zeros(len(new_starts), np.int64),
            "lexical_rank": np.zeros(len(new_starts), np.int64),
            "words": len(text.split()),
        })  # fmt: skip
        qrels[qid] = {doc: 1}
    for t in texts:
        lengths.append(len(analyzer.terms(t)) if hasattr(analyzer, "terms") else len(t.split()))
    data = {"judged": list(qrels), "qrels": qrels, "queries": queries,
            "mean_terms": float(np.mean(lengths))}  # fmt: skip
    import pickle

    cached.write_bytes(pickle.dumps(data))
    return data


def scores_all(q: dict, side: str) -> np.ndarray:
    return np.asarray(q[side], dtype=float)


def features(index_name: str, n: int) -> dict[str, float]:
    out = {}
    for kind in ("sentence", "lead"):
        p = pseudo(index_name, n, kind)
        dense = ndcg10(p, lambda q: scores_all(q, "dense")).mean()
        lexical = ndcg10(p, lambda q: scores_all(q, "lexical")).mean()
        bases = {float(a): ndcg10(p, by_peaks(a, 0.1)).mean() for a in GRID_A}
        out |= {
            f"{kind} base": max(bases, key=lambda a: (bases[a], -abs(a - 0.75))),
            f"{kind} gap": float(dense - lexical),
            f"{kind} dense": float(100 * dense),
            f"{kind} lexical": float(100 * lexical),
        }
    return out | {"log2 length": float(np.log2(p["mean_terms"]))}


def study(datas: dict[str, dict], n: int = 200) -> dict:
    """The per-corpus study on the collections' cached candidates ``datas``, with ``n``
    pseudo-queries per index: table (setting -> collection -> nDCG@10 percent), each
    setting's worst margin over the better side, the features and the fits."""
    names = list(datas)
    index_of = {name: paths(name)[1].name.removesuffix(".tasksift") for name in names}
    feats = {i: features(i, n) for i in sorted(set(index_of.values()))}
    # every (collection, base) nDCG@10 once: the fits below only look them up
    bases = np.round(np.arange(0.1, 0.91, 0.05), 2)
    grid = {m: {float(b): ndcg10(datas[m], by_peaks(b, 0.1)).mean() for b in bases} for m in names}

    def at(m: str, base: float) -> float:
        return grid[m][round(float(np.clip(np.round(base / 0.05) * 0.05, 0.1, 0.9)), 2)]

    table = {
        "dense": {m: 100 * ndcg10(datas[m], only("dense")).mean() for m in names},
        "lexical": {m: 100 * ndcg10(datas[m], only("lexical")).mean() for m in names},
        "convex 0.7 (old default)": {m: 100 * ndcg10(datas[m], convex(0.7)).mean() for m in names},
        "adaptive (shipped)": {m: 100 * at(m, 0.75) for m in names},
        "adaptive, base LOIO": {},
        "oracle base (per coll.)": {m: 100 * max(grid[m].values()) for m in names},
    }
    fits: dict[str, dict[str, tuple[float, float]]] = {}
    for m in names:
        # held out with every collection of the same index (pyfaq and pyglossary share
        # pydocs, hence every per-index feature): leave one index out
        rest = [o for o in names if index_of[o] != index_of[m]]
        a = max(GRID_A, key=lambda a: np.mean([at(o, a) for o in rest]))
        table["adaptive, base LOIO"][m] = 100 * at(m, a)
        for name in ("sentence base", "sentence gap", "lead base", "lead gap", "log2 length"):
            raw = {o: feats[index_of[o]][name] for o in names}
            centre = float(np.mean([raw[o] for o in rest]))
            f = {o: raw[o] - centre for o in names}  # centred on the fitting collections
            best = max(
                ((float(a), float(c)) for a in GRID_A for c in GRID_C),
                key=lambda ac: (np.mean([at(o, ac[0] + ac[1] * f[o]) for o in rest]), -abs(ac[1])),
            )
            fits.setdefault(name, {})[m] = best
            row = table.setdefault(f"base = a + c * {name}, LOIO", {})
            row[m] = 100 * at(m, best[0] + best[1] * f[m])
        for kind in ("sentence", "lead"):
            table.setdefault(f"base = {kind} base (no fit)", {})[m] = 100 * at(
                m, feats[index_of[m]][f"{kind} base"]
            )
    worst = {
        label: min(row[m] - max(table["dense"][m], table["lexical"][m]) for m in names)
        for label, row in table.items()
    }
    result = {"ndcg@10": table, "worst_vs_better_side": worst, "features": feats,
              "loio_fits": fits, "pseudo_queries": n}  # fmt: skip
    return result | {"verdict": verdict(result)}


def verdict(result: dict) -> str:
    """Whether a per-corpus base is worth shipping: it must beat the shipped rule's base
    fitted the same way (LOIO) on the mean, and stay within 0.5 of every collection's
    better side."""
    table, worst = result["ndcg@10"], result["worst_vs_better_side"]
    baseline = float(np.mean(list(table["adaptive, base LOIO"].values())))
    lines = []
    for label, row in table.items():
        if not label.startswith("base = "):
            continue
        mean = float(np.mean(list(row.values())))
        ok = mean > baseline and worst[label] >= -0.5
        lines.append(f"{label}: {mean - baseline:+.2f} vs fixed base (LOIO), worst "
                     f"{worst[label]:+.2f}: {'ships' if ok else 'rejected'}")  # fmt: skip
    return "\n".join(lines)


def show(result: dict) -> None:
    table, worst = result["ndcg@10"], result["worst_vs_better_side"]
    names = list(table["dense"])
    for i, f in result["features"].items():
        print(" ", i, {k: round(v, 3) for k, v in f.items()})
    print("nDCG@10 (percent); LOIO: each index's collections scored by a rule fitted on the")
    print("other indexes' (pyfaq and pyglossary share one); worst = least margin over the")
    print("collection's better side")
    print(f"{'setting':<34}" + "".join(f"{m:>11}" for m in names) + f"{'mean':>8}{'worst':>8}")
    for label, row in table.items():
        print(f"{label:<34}" + "".join(f"{row[m]:>11.2f}" for m in names)
              + f"{np.mean(list(row.values())):>8.2f}{worst[label]:>8.2f}")  # fmt: skip
    print("LOIO fits (a, c):", result["loio_fits"])
    print(result["verdict"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pseudo", type=int, default=200)
    result = study({name: candidates(name) for name in NAMES}, parser.parse_args().pseudo)
    show(result)
    out = RESULTS / "fusion_corpus.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
