"""Fusion of dense and lexical search, compared on several collections.

    python bench/fusion.py [--collections scifact,pyfaq,pyglossary,texindex,debman]

For each collection (BEIR form: corpus.jsonl.gz, queries.jsonl, qrels.tsv) it builds the
index with the default model unless it is there, then reports nDCG@10 and Recall@100 of
dense search, lexical (BM25) search, and hybrid search under each fusion function, ANN as
shipped: the adaptive default (a dense weight per query, see ``options.AdaptiveRule``),
convex combinations of min-max normalized scores at fixed weights (alpha = weight of the
dense side; 0.7 was the default before) and reciprocal rank fusion. Every judged query
counts (unanswered ones score 0). The last lines check issue 19's targets: the default
never more than 0.5 nDCG@10 below the better of dense and lexical, SciFact at least 73.0,
and the mean over the collections at least the old default's + 1.0.

SciFact comes from ../shared/collections/scifact; pyfaq and pyglossary are built from the
Python manual by bench/build_collections.py, texindex and debman from GNU Info manuals and
Debian packages by bench/build_manual_collections.py (run them first; that one with
--download once).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from common import RESULTS, SCIFACT, TASKSIFT, record, row, run_checked

COLLECTIONS = RESULTS / "collections"
ALPHAS = (0.3, 0.5, 0.7)
RRF_KS = (60,)
SCIFACT_FLOOR = 73.0
MAX_LOSS = 0.5
MEAN_GAIN = 1.0
OLD_DEFAULT = "convex a=0.7 (old default)"
DEFAULT = "adaptive (default)"
INDEXES = {"pyfaq": "pydocs", "pyglossary": "pydocs"}  # they share one corpus


@dataclass(frozen=True)
class Collection:
    name: str
    corpus: Path
    queries: Path
    qrels: Path
    index: Path


def collection(name: str) -> Collection:
    folder = SCIFACT if name == "scifact" else COLLECTIONS / name
    index_name = INDEXES.get(name, name)
    return Collection(
        name,
        folder / "corpus.jsonl.gz",
        folder / "queries.jsonl",
        folder / "qrels.tsv",
        RESULTS / f"{index_name}.tasksift",
    )


def ensure_index(c: Collection) -> None:
    if (c.index / "CURRENT").is_file():
        return
    if not c.corpus.is_file():
        sys.exit(f"{c.corpus} is missing; run bench/build_collections.py and "
                 "bench/build_manual_collections.py")  # fmt: skip
    run_checked(
        [*TASKSIFT, "index", str(c.corpus.resolve()), "--index", str(c.index), "-q"],
        f"indexing {c.name}",
    )


def settings() -> list[tuple[str, object, object]]:
    """(label, mode, fusion) for every run to compare."""
    from tasksift.options import FusionMethod, SearchMode
    from tasksift.search.fusion import Fusion

    convex = FusionMethod.CONVEX
    runs: list[tuple[str, object, object]] = [
        ("dense", SearchMode.DENSE, Fusion()),
        ("lexical", SearchMode.LEXICAL, Fusion()),
        (DEFAULT, SearchMode.HYBRID, Fusion()),
    ]
    for alpha in ALPHAS:
        label = OLD_DEFAULT if alpha == 0.7 else f"convex a={alpha}"
        runs.append((label, SearchMode.HYBRID, Fusion(convex, alpha=alpha)))
    for k in RRF_KS:
        runs.append((f"rrf k={k}", SearchMode.HYBRID, Fusion(FusionMethod.RRF, rrf_k=k)))
    return runs


class RememberedEncoder:
    """The searcher's embedder, encoding each batch of queries once for all the settings."""

    def __init__(self, embedder: object) -> None:
        self.embedder, self.memo = embedder, {}

    def encode(self, texts: list[str], prompt: str, **options: object) -> object:
        key = (tuple(texts), prompt, tuple(sorted(options.items())))
        if key not in self.memo:
            self.memo[key] = self.embedder.encode(texts, prompt, **options)
        return self.memo[key]

    def __getattr__(self, name: str) -> object:
        return getattr(self.embedder, name)


def evaluate(c: Collection) -> dict[str, tuple[float, float]]:
    """nDCG@10 and Recall@100 (percent) of every setting."""
    from tasksift.evaluate import judged_queries, measure, to_run
    from tasksift.options import SearchRequest
    from tasksift.queries import read_qrels, read_queries
    from tasksift.search.searcher import Searcher

    qrels = read_qrels(c.qrels)
    judged = judged_queries(list(qrels), qrels)
    asked = [q for q in read_queries(str(c.queries)).queries if q.qid in set(judged)]
    searcher = Searcher.open(c.index, SearchRequest(), explain=True)
    searcher.embedder = RememberedEncoder(searcher.embedder)
    qids, texts = [q.qid for q in asked], [q.text for q in asked]
    figures = {}
    for label, mode, fusion in settings():
        searcher.mode, searcher.fusion = mode, fusion
        run = to_run(qids, searcher.search(texts, 100))
        scores = measure(label, run, qrels, judged, 10, 100).measures
        figures[label] = (100 * scores["nDCG@10"], 100 * scores["Recall@100"])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", default="scifact,pyfaq,pyglossary,texindex,debman")
    args = parser.parse_args()
    names = args.collections.split(",")
    results = {}
    for name in names:
        c = collection(name)
        ensure_index(c)
        results[name] = evaluate(c)
    labels = [label for label, _, _ in settings()]
    record("ndcg@10 and recall@100 by collection and run", results)
    print("nDCG@10 / Recall@100 (percent), every judged query counted")
    print(f"{'run':<28}" + "".join(f"{n:>20}" for n in names) + f"{'mean':>9}")

    def mean(label: str) -> float:
        return sum(results[n][label][0] for n in names) / len(names)

    for label in labels:
        cells = "".join(
            f"{results[n][label][0]:>11.2f} / {results[n][label][1]:5.1f}" for n in names
        )
        print(f"{label:<28}{cells}{mean(label):>9.2f}")
    failures = []
    for n in names:
        best_single = max(results[n]["dense"][0], results[n]["lexical"][0])
        gap = results[n][DEFAULT][0] - best_single
        row(f"{n}: default hybrid - best single side", f"{gap:+.2f} nDCG@10 points")
        if gap < -MAX_LOSS:
            failures.append(f"{n}: default hybrid {-gap:.2f} points below the better side")
    if "scifact" in results and results["scifact"][DEFAULT][0] < SCIFACT_FLOOR:
        failures.append(f"SciFact hybrid nDCG@10 below {SCIFACT_FLOOR}")
    gain = mean(DEFAULT) - mean(OLD_DEFAULT)
    row("mean: default - old default", f"{gain:+.2f} nDCG@10 points")
    record("mean gain over the old default", gain)
    if gain < MEAN_GAIN:
        failures.append(f"mean gain over the old default {gain:+.2f} < {MEAN_GAIN}")
    print("targets:", "met" if not failures else "MISSED: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
