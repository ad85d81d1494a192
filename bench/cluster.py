"""Clustering: its time on SciFact, and its agreement with the pages of the Python FAQ.

    python bench/cluster.py [--index DIR] [--seeds 5] [--faq-index DIR]

1. Time of ``cluster_documents`` on the SciFact index (5,183 documents; built with the
   default model unless it is there) with n = 20 and with ``auto``, in this process; loading
   the index is timed on its own and not included.
2. Agreement with external labels: the answers of the Python FAQ (bench/build_collections.py:
   the documents judged in pyfaq/qrels.tsv, ids ``faq/<page>.html#...``), each labelled by
   its page (general, programming, design, library, extending, windows, gui, installed).
   They are indexed (``--task clustering``) from a temporary JSON Lines corpus, clustered with
   n = the number of pages and with ``auto``, and scored by the adjusted Rand index (ARI)
   and normalized mutual information (NMI) against the pages, beside KMeans (same n, same
   n_init, same seeds) on TF-IDF vectors of the same texts (sklearn's TfidfVectorizer,
   English stopwords). Figures are mean ± standard deviation over seeds.

Why the agreement means something: the pages were written and divided by subject by the
Python documentation's authors, not by this project, and neither side sees them: the page
title (each FAQ answer's BEIR title) is left out of the texts and the doc ids are not an
input. ARI is corrected for chance (0 for a random partition, 1 for the pages themselves),
so it compares clusterings with different numbers of clusters (``auto``); NMI is not, and
grows with the number of clusters. The pages overlap (programming, library and design all
discuss code) and are very unequal (64 answers to 3), so no clustering reaches 1; the
TF-IDF baseline on the same texts gives the scale.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import DEFAULT_INDEX, RESULTS, TASKSIFT, ensure_index, require_scifact, row, run_checked
from tasksift.index.reader import LoadedIndex, load_index
from tasksift.tasks.cluster import N_INIT, Clustering, cluster_documents

PYFAQ = RESULTS / "collections" / "pyfaq"
SCIFACT_N = 20


def page(doc_id: str) -> str:
    """The FAQ page of an answer: ``faq/design.html#why...`` -> ``design``."""
    return doc_id.split("/", 1)[1].split(".html", 1)[0]


def timed(index: LoadedIndex, n: int | None = None, auto: bool = False) -> tuple[Clustering, float]:
    began = time.perf_counter()
    result = cluster_documents(index, n=n, auto=auto, seed=0)
    return result, time.perf_counter() - began


def scifact_timing(path: Path) -> None:
    if not (path / "CURRENT").is_file():
        require_scifact()
        ensure_index(path)
    began = time.perf_counter()
    index = load_index(path, lexical=True)
    row("SciFact: load index (lexical too)", f"{time.perf_counter() - began:.2f} s")
    row("  documents", f"{len(index.documents.ids):,}")
    fixed, seconds = timed(index, n=SCIFACT_N)
    row(f"  cluster_documents n={SCIFACT_N}", f"{seconds:.2f} s")
    auto, seconds = timed(index, auto=True)
    tried = f"k {min(auto.scores)}..{max(auto.scores)}"
    row("  cluster_documents auto", f"{seconds:.2f} s ({tried}; chose {len(auto.clusters)})")
    for c in fixed.clusters[:3]:
        row(f"  n={SCIFACT_N} cluster {c.number} ({c.size} docs)", c.label)


def faq_corpus(target: Path) -> dict[str, str]:
    """The judged FAQ answers, without titles, as a JSON Lines corpus; doc id -> page."""
    lines = (PYFAQ / "qrels.tsv").read_text(encoding="utf-8").splitlines()[1:]
    wanted = {line.split("\t")[1] for line in lines if line.strip()}
    labels: dict[str, str] = {}
    corpus = PYFAQ / "corpus.jsonl.gz"
    with gzip.open(corpus, "rt", encoding="utf-8") as source, target.open("w") as out:
        for line in source:
            record = json.loads(line)
            if record["_id"] in wanted:
                out.write(json.dumps({"_id": record["_id"], "text": record["text"]}) + "\n")
                labels[record["_id"]] = page(record["_id"])
    return labels


def faq_index(scratch: Path, given: Path | None) -> tuple[Path, dict[str, str]]:
    corpus = scratch / "faq.jsonl"
    labels = faq_corpus(corpus)
    if given is not None and (given / "CURRENT").is_file():
        return given, labels
    index = given or scratch / "faq.tasksift"
    command = [*TASKSIFT, "index", str(corpus), "-i", str(index), "-q", "--task", "clustering"]
    run = run_checked(command, "indexing the FAQ")
    row("FAQ: index answers (subprocess)", f"{run.seconds:.1f} s, {len(labels)} documents")
    return index, labels


def agreement(truth: list[str], found: list[int]) -> tuple[float, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return adjusted_rand_score(truth, found), normalized_mutual_info_score(truth, found)


def tfidf_kmeans(texts: list[str], n: int, seed: int) -> list[int]:
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(stop_words="english").fit_transform(texts)
    return KMeans(n_clusters=n, n_init=N_INIT, random_state=seed).fit_predict(matrix).tolist()


def spread(values: list[float]) -> str:
    deviation = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {deviation:.3f}"


def faq_agreement(path: Path, labels: dict[str, str], seeds: int) -> None:
    index = load_index(path, lexical=True)
    ids = [str(i) for i in index.documents.ids]
    truth = [labels[i] for i in ids]
    n = len(set(truth))
    texts = {i: "" for i in ids}
    for doc_id, text in zip(
        index.column("doc_id").to_pylist(), index.column("text").to_pylist(), strict=True
    ):
        texts[doc_id] += " " + text
    runs: dict[str, list[tuple[float, float]]] = {"n": [], "auto": [], "tfidf": []}
    chosen = []
    for seed in range(seeds):
        fixed = cluster_documents(index, n=n, seed=seed)
        runs["n"].append(agreement(truth, [fixed.assignments[i] for i in ids]))
        auto = cluster_documents(index, auto=True, seed=seed)
        runs["auto"].append(agreement(truth, [auto.assignments[i] for i in ids]))
        chosen.append(len(auto.clusters))
        runs["tfidf"].append(agreement(truth, tfidf_kmeans([texts[i] for i in ids], n, seed)))
    row(f"FAQ: {len(ids)} answers, {n} pages, {seeds} seeds", "ARI            NMI")
    names = {
        "n": f"  tasksift cluster n={n}",
        "auto": f"  tasksift cluster auto (k = {', '.join(map(str, chosen))})",
        "tfidf": f"  baseline: TF-IDF + KMeans n={n}",
    }
    for key, name in names.items():
        aris, nmis = zip(*runs[key], strict=True)
        row(name, f"{spread(list(aris))}  {spread(list(nmis))}")
    example = cluster_documents(index, n=n, seed=0)
    for c in example.clusters:
        members = [labels[d] for d, k in example.assignments.items() if k == c.number]
        pages = statistics.multimode(members)
        row(f"  n={n} seed 0: {c.size} docs, mostly {'/'.join(pages)}", c.label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="SciFact index")
    parser.add_argument("--faq-index", type=Path, help="keep (or reuse) the FAQ index here")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    scifact_timing(args.index)
    with tempfile.TemporaryDirectory() as scratch:
        index, labels = faq_index(Path(scratch), args.faq_index)
        faq_agreement(index, labels, args.seeds)


if __name__ == "__main__":
    main()
