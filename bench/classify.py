"""Classification quality: zero-shot and few-shot, against a TF-IDF baseline.

    python bench/classify.py [--index DIR] [--seeds 5] [--shots 2,4,8] [--k 5]

1. The sample corpus, classified zero-shot with only its six topic names as labels
   (``classify_index``), scored against the folder each document is in.
2. The Python FAQ questions (bench/build_collections.py: pyfaq/queries.jsonl and qrels.tsv),
   each labelled by the FAQ page its answer is on (general, programming, design, library,
   extending, windows, gui, installed): accuracy and macro-F1 of
   (a) zero-shot with the page names, and with one-line descriptions of the pages (written
       before any result was seen),
   (b) few-shot with N examples per label (centroid, and a kNN vote), and
   (c) TF-IDF (words and word pairs) + logistic regression (sklearn defaults) trained on
       the same examples; and, for scale, always answering the most common label.
   Per seed, each label's questions are shuffled; the first min(8, n - 1) form its example
   pool (N examples are its first N) and the rest are the test items, the same for every
   method and every N. gui (4 questions) and installed (3) therefore have one test item
   each and fewer than N examples at N = 4, 8. Figures are mean ± standard deviation over
   seeds. Vectors come from the default model through the index's embedder and document
   prompt (all-MiniLM-L6-v2 has no prompts).

The sample corpus is indexed into a temporary folder unless ``--index`` names an index of it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, TASKSIFT, row, run_timed
from tasksift.index.reader import LoadedIndex, load_index
from tasksift.onnx.embedder import load_index_model
from tasksift.tasks.classify import (
    LabelSpec,
    Prediction,
    accuracy_and_macro_f1,
    classify_index,
    few_shot,
    zero_shot,
)
from tasksift.vectors.embedder import Embedder
from tasksift.vectors.encoding import Role, encode_with_prompt

SAMPLE = ROOT / "sample_corpus"
PYFAQ = RESULTS / "collections" / "pyfaq"
MAX_SHOTS = 8
FAQ_DESCRIPTIONS = {
    "general": "General Python FAQ: what Python is, its history, licence, releases and uses",
    "programming": "Programming FAQ: how to write Python code: functions, objects, numbers, "
    "strings, sequences, dictionaries, performance and debugging",
    "design": "Design and history FAQ: why the Python language was designed the way it is",
    "library": "Library FAQ: using standard library modules: threads, files, networking, "
    "databases, random numbers, system calls",
    "extending": "Extending and embedding FAQ: writing C or C++ extension modules and "
    "embedding the Python interpreter in an application",
    "windows": "Python on Windows FAQ: running Python programs and installing Python on Windows",
    "gui": "Graphical user interface FAQ: GUI toolkits such as Tkinter",
    "installed": "Why is Python installed on my computer?",
}

Scores = dict[str, float]


def sample_index(given: Path | None, scratch: Path) -> Path:
    if given is not None:
        return given
    index = scratch / "sample.tasksift"
    began = time.perf_counter()
    timed = run_timed([*TASKSIFT, "index", str(SAMPLE), "--index", str(index), "-q"])
    if timed.code != 0:
        sys.exit(f"indexing the sample corpus failed: {timed.stderr.strip()}")
    row("sample corpus indexed in", f"{time.perf_counter() - began:.1f} s")
    return index


def sample_zero_shot(index: LoadedIndex, embedder: Embedder) -> None:
    topics = sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())
    labels = [LabelSpec(topic, topic.replace("-", " ")) for topic in topics]
    predictions = classify_index(index, embedder, labels=labels)
    metrics = accuracy_and_macro_f1(
        predictions, {p.item: p.item.split("/")[0] for p in predictions}
    )
    print("\n== sample corpus, zero-shot, topic names as labels")
    row("documents", str(metrics["items"]))
    row("accuracy / macro-F1", f"{metrics['accuracy']:.3f} / {metrics['macro_f1']:.3f}")
    for p in predictions:
        if p.label != p.item.split("/")[0]:
            runner_up = f"{p.runner_up} {p.runner_up_score:.3f}"
            print(f"  wrong: {p.item} -> {p.label} {p.score:.3f}, then {runner_up}")


def faq_questions() -> tuple[list[str], list[str]]:
    """Question texts and their labels (the FAQ page of the answer)."""
    if not (PYFAQ / "qrels.tsv").is_file():
        sys.exit(f"{PYFAQ} is missing; run bench/build_collections.py first")
    page = {}
    for line in (PYFAQ / "qrels.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query, document, _ = line.split("\t")
        page[query] = document.removeprefix("faq/").split(".html")[0]
    queries = [json.loads(line) for line in (PYFAQ / "queries.jsonl").open(encoding="utf-8")]
    queries = [q for q in queries if q["_id"] in page]
    return [q["text"] for q in queries], [page[q["_id"]] for q in queries]


def split(labels: list[str], seed: int) -> tuple[list[list[int]], list[int]]:
    """Per label (in sorted order) its shuffled example pool; and the test items."""
    rng = np.random.default_rng(seed)
    by_label = defaultdict(list)
    for position, label in enumerate(labels):
        by_label[label].append(position)
    pools, test = [], []
    for label in sorted(by_label):
        shuffled = [int(i) for i in rng.permutation(by_label[label])]
        keep = min(MAX_SHOTS, len(shuffled) - 1)
        pools.append(shuffled[:keep])
        test.extend(shuffled[keep:])
    return pools, sorted(test)


def tfidf_predict(
    train: list[int], test: list[int], texts: list[str], labels: list[str]
) -> list[Prediction]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))
    features = vectorizer.fit_transform([texts[i] for i in train])
    model = LogisticRegression(max_iter=1000).fit(features, [labels[i] for i in train])
    guesses = model.predict(vectorizer.transform([texts[i] for i in test]))
    return [Prediction(str(i), str(g), 0.0, None, None) for i, g in zip(test, guesses, strict=True)]


def score(predictions: list[Prediction], test: list[int], labels: list[str]) -> Scores:
    metrics = accuracy_and_macro_f1(predictions, {str(i): labels[i] for i in test})
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def few_shot_runs(
    vectors: np.ndarray,
    texts: list[str],
    labels: list[str],
    test: list[int],
    pool: list[int],
    k: int,
) -> dict[str, Scores]:
    """Centroid, kNN and TF-IDF + logistic regression, all from the examples in ``pool``."""
    names = [str(i) for i in test]
    examples = [labels[i] for i in pool]
    centroid = few_shot(vectors[test], vectors[pool], examples, names, "centroid")
    knn = few_shot(vectors[test], vectors[pool], examples, names, "knn", k)
    return {
        "centroid": score(centroid, test, labels),
        f"knn k={k}": score(knn, test, labels),
        "tf-idf + logreg": score(tfidf_predict(pool, test, texts, labels), test, labels),
    }


def faq_benchmark(
    index: LoadedIndex, embedder: Embedder, seeds: int, shots: list[int], k: int
) -> None:
    texts, labels = faq_questions()
    vectors = encode_with_prompt(embedder, index.manifest.prompts, Role.DOCUMENT, texts)
    names = sorted(set(labels))
    label_texts = {"names": names, "descriptions": [FAQ_DESCRIPTIONS[n] for n in names]}
    label_vectors = {
        kind: encode_with_prompt(embedder, index.manifest.prompts, Role.DOCUMENT, t)
        for kind, t in label_texts.items()
    }

    def zero(kind: str, test: list[int]) -> Scores:
        found = zero_shot(vectors[test], label_vectors[kind], names, [str(i) for i in test])
        return score(found, test, labels)

    counts = {n: labels.count(n) for n in names}
    print(f"\n== Python FAQ: {len(texts)} questions, per label {counts}")
    for kind in label_texts:
        row(f"zero-shot ({kind}), all questions", figures([zero(kind, list(range(len(texts))))]))
    results: dict[str, list[Scores]] = defaultdict(list)
    majority = max(names, key=labels.count)
    for seed in range(seeds):
        pools, test = split(labels, seed)
        for kind in label_texts:
            results[f"zero-shot ({kind})"].append(zero(kind, test))
        constant = [Prediction(str(i), majority, 0.0, None, None) for i in test]
        results[f"always {majority!r}"].append(score(constant, test, labels))
        for n in shots:
            pool = [i for examples in pools for i in examples[:n]]
            for method, scores in few_shot_runs(vectors, texts, labels, test, pool, k).items():
                results[f"N={n} ({len(pool)} examples) {method}"].append(scores)
    print(f"\n== {len(test)} test questions, the same for every method; {seeds} seeds")
    row("method", "accuracy        macro-F1")
    for name, runs in results.items():
        row(name, figures(runs))


def figures(runs: list[Scores]) -> str:
    def one(key: str) -> str:
        values = [r[key] for r in runs]
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} ± {spread:.3f}"

    return f"{one('accuracy')}   {one('macro_f1')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an existing index of sample_corpus/")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--shots", default="2,4,8", help="examples per label, comma-separated")
    parser.add_argument("--k", type=int, default=5, help="neighbours of the kNN vote")
    args = parser.parse_args()
    shots = [int(n) for n in args.shots.split(",")]
    if max(shots) > MAX_SHOTS:
        sys.exit(f"at most {MAX_SHOTS} examples per label")
    with tempfile.TemporaryDirectory() as scratch:
        index = load_index(sample_index(args.index, Path(scratch)))
        embedder = load_index_model(index.manifest)
        sample_zero_shot(index, embedder)
        faq_benchmark(index, embedder, args.seeds, shots, args.k)


if __name__ == "__main__":
    main()
