"""Classification quality: zero-shot and few-shot, against a TF-IDF baseline.

    python bench/classify.py [--index DIR] [--seeds 5] [--shots 2,4,8] [--k 5]
                             [--adapter-shots N] [--max-steps S]

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

3. With and without a classification adapter (``--adapter-shots N``, default the largest
   N; 0 skips it): per seed, that seed's pool at N examples per label is written as a
   ``label<TAB>text`` file, ``tasksift adapt --examples`` trains an adapter on it (the
   command's defaults unless ``--max-steps``) for a ``--task classification`` index of the
   sample corpus, the sample corpus is indexed again with ``--adapter``, and the FAQ
   questions are encoded with that index's model (the adapter merged, ``load_index_model``)
   and prompt. Centroid and kNN few-shot are scored on the same pool and test items with
   the classification index's model without and with the adapter; the paired difference
   per seed, and adapt's wall time, peak memory and held-out accuracy line. On a busy
   machine run it with OMP_NUM_THREADS=1: beside another job on 2 cores, torch's two
   threads took 16 minutes for adapt's 200 steps, one thread 30 seconds.

The sample corpus is indexed into a temporary folder unless ``--index`` names an index of it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, TASKSIFT, Timed, record, row, run_checked
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
    run_checked(
        [*TASKSIFT, "index", str(SAMPLE), "--index", str(index), "-q"], "indexing the sample corpus"
    )
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
    return {
        **vector_runs(vectors, labels, test, pool, k),
        "tf-idf + logreg": score(tfidf_predict(pool, test, texts, labels), test, labels),
    }


def vector_runs(
    vectors: np.ndarray, labels: list[str], test: list[int], pool: list[int], k: int
) -> dict[str, Scores]:
    """Centroid and kNN few-shot on ``vectors``, from the examples in ``pool``."""
    names = [str(i) for i in test]
    examples = [labels[i] for i in pool]
    centroid = few_shot(vectors[test], vectors[pool], examples, names, "centroid")
    knn = few_shot(vectors[test], vectors[pool], examples, names, "knn", k)
    return {"centroid": score(centroid, test, labels), f"knn k={k}": score(knn, test, labels)}


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


@dataclass(frozen=True)
class AdapterRun:
    """One seed of the adapter arm: adapt's cost and report, and the two arms' scores."""

    seed: int
    adapt: Timed
    reindex_seconds: float
    held_out: str  # the held-out accuracy line adapt printed
    trained: dict  # tasksift_adapter.json's "trained": the settings adapt used
    shift: float  # mean cosine of a question's vector with and without the adapter
    base: dict[str, Scores]
    adapted: dict[str, Scores]


@dataclass(frozen=True)
class AdapterSetting:
    """What every seed of the adapter arm shares."""

    index: Path  # the classification index of the sample corpus adapt trains for
    texts: list[str]
    labels: list[str]
    shots: int
    k: int
    max_steps: int | None


def classification_index(scratch: Path, name: str, adapter: Path | None = None) -> Timed:
    """Index the sample corpus for classification (with ``adapter``) into ``scratch/name``."""
    command = [*TASKSIFT, "index", str(SAMPLE), "--index", str(scratch / name)]
    command += ["--task", "classification", "-q"]
    if adapter is not None:
        command += ["--adapter", str(adapter)]
    return run_checked(command, "indexing the sample corpus for classification")


def write_examples(path: Path, pool: list[int], texts: list[str], labels: list[str]) -> None:
    """The pool as the ``label<TAB>text`` file ``adapt --examples`` takes."""
    for i in pool:
        if "\t" in texts[i] or "\n" in texts[i] or texts[i].lstrip().startswith("#"):
            sys.exit(f"question {i} cannot be written as an example line: {texts[i]!r}")
    lines = [f"{labels[i]}\t{texts[i]}" for i in pool]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def train_adapter(index: Path, examples: Path, out: Path, max_steps: int | None) -> Timed:
    """``tasksift adapt --examples`` with its default settings (bar ``--max-steps``)."""
    command = [*TASKSIFT, "adapt", "--index", str(index), "--out", str(out)]
    command += ["--examples", str(examples), "-q"]
    if max_steps is not None:
        command += ["--max-steps", str(max_steps)]
    return run_checked(command, "tasksift adapt")


def held_out_line(stdout: str) -> str:
    """The held-out accuracy line of adapt's report."""
    found = [line for line in stdout.splitlines() if line.startswith("held-out")]
    return found[0] if found else f"(no held-out line in: {stdout.strip()!r})"


def adapter_seed(
    seed: int, scratch: Path, setting: AdapterSetting, base_vectors: np.ndarray
) -> AdapterRun:
    """Train one seed's adapter on its pool and score both arms on its test items."""
    pools, test = split(setting.labels, seed)
    pool = [i for examples in pools for i in examples[: setting.shots]]
    examples = scratch / f"examples-seed{seed}.tsv"
    write_examples(examples, pool, setting.texts, setting.labels)
    out = scratch / f"adapter-seed{seed}"
    timed = train_adapter(setting.index, examples, out, setting.max_steps)
    reindexed = classification_index(scratch, f"adapted-seed{seed}.tasksift", out)
    adapted_index = load_index(scratch / f"adapted-seed{seed}.tasksift", lexical=False)
    if adapted_index.manifest.adapter is None:
        sys.exit(f"the index built with --adapter {out} records no adapter")
    embedder = load_index_model(adapted_index.manifest)
    prompts = adapted_index.manifest.prompts
    vectors = encode_with_prompt(embedder, prompts, Role.DOCUMENT, setting.texts)
    facts = json.loads((out / "tasksift_adapter.json").read_text(encoding="utf-8"))
    return AdapterRun(
        seed=seed,
        adapt=timed,
        reindex_seconds=reindexed.seconds,
        held_out=held_out_line(timed.stdout),
        trained=facts["trained"],
        shift=float(np.mean(np.sum(vectors * base_vectors, axis=1))),
        base=vector_runs(base_vectors, setting.labels, test, pool, setting.k),
        adapted=vector_runs(vectors, setting.labels, test, pool, setting.k),
    )


def adapter_benchmark(scratch: Path, seeds: int, shots: int, k: int, max_steps: int | None) -> None:
    """Few-shot with and without an adapter trained by ``adapt --examples`` on the pool."""
    texts, labels = faq_questions()
    built = classification_index(scratch, "classification.tasksift")
    index_path = scratch / "classification.tasksift"
    setting = AdapterSetting(index_path, texts, labels, shots, k, max_steps)
    index = load_index(setting.index, lexical=False)
    base = encode_with_prompt(
        load_index_model(index.manifest), index.manifest.prompts, Role.DOCUMENT, texts
    )
    steps = "the command's default steps" if max_steps is None else f"--max-steps {max_steps}"
    print(f"\n== with and without an adapter: N={shots}, `tasksift adapt --examples`, {steps}")
    row("classification index built in", f"{built.seconds:.1f} s")
    row("OMP_NUM_THREADS (adapt inherits it)", os.environ.get("OMP_NUM_THREADS", "unset"))
    runs = []
    for seed in range(seeds):
        runs.append(adapter_seed(seed, scratch, setting, base))
        print_seed(runs[-1])
    print_adapter_table(runs, seeds)


def print_seed(run: AdapterRun) -> None:
    """One seed's adapt cost and held-out line, as it finishes."""
    cost = f"{run.adapt.seconds:.1f} s, peak RSS {run.adapt.peak_rss_mib:.0f} MiB"
    row(f"seed {run.seed}: adapt wall time, peak RSS", cost)
    row(f"seed {run.seed}: re-index with the adapter", f"{run.reindex_seconds:.1f} s")
    row(f"seed {run.seed}: adapt's report", run.held_out)
    row(f"seed {run.seed}: mean cos(with, without adapter)", f"{run.shift:.5f}")
    record(f"seed {run.seed}: adapt settings", run.trained)


def print_adapter_table(runs: list[AdapterRun], seeds: int) -> None:
    """Mean ± std of each arm, and the paired difference (adapter − base) per seed."""
    settings = {json.dumps(without_seconds(r.trained), sort_keys=True) for r in runs}
    row("adapt settings (tasksift_adapter.json)", " | ".join(sorted(settings)))
    print(f"\n== few-shot with and without the adapter; {seeds} seeds")
    row("method", "accuracy        macro-F1")
    for method in runs[0].base:
        row(f"{method}, no adapter", figures([r.base[method] for r in runs]))
        row(f"{method}, adapter", figures([r.adapted[method] for r in runs]))
        row(f"{method}, adapter − base", figures([difference(r, method) for r in runs]))
    print("\n== paired difference (adapter − base) per seed: accuracy / macro-F1")
    for r in runs:
        cells = [f"{m} {signed(difference(r, m))}" for m in r.base]
        row(f"seed {r.seed}", "   ".join(cells))


def without_seconds(trained: dict) -> dict:
    """adapt's recorded settings less its training time, to compare seeds by."""
    return {key: value for key, value in trained.items() if key != "seconds"}


def difference(run: AdapterRun, method: str) -> Scores:
    return {key: run.adapted[method][key] - run.base[method][key] for key in run.base[method]}


def signed(scores: Scores) -> str:
    return f"{scores['accuracy']:+.3f} / {scores['macro_f1']:+.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an existing index of sample_corpus/")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--shots", default="2,4,8", help="examples per label, comma-separated")
    parser.add_argument("--k", type=int, default=5, help="neighbours of the kNN vote")
    parser.add_argument(
        "--adapter-shots",
        type=int,
        help="examples per label the adapter trains on (default: the largest of --shots; 0: "
        "no adapter arm)",
    )
    parser.add_argument("--max-steps", type=int, help="adapt's --max-steps (default: its own)")
    args = parser.parse_args()
    shots = [int(n) for n in args.shots.split(",")]
    adapter_shots = max(shots) if args.adapter_shots is None else args.adapter_shots
    if max([*shots, adapter_shots]) > MAX_SHOTS:
        sys.exit(f"at most {MAX_SHOTS} examples per label")
    if adapter_shots == 1:
        sys.exit("an adapter needs two examples per label at least")
    with tempfile.TemporaryDirectory() as scratch:
        index = load_index(sample_index(args.index, Path(scratch)))
        embedder = load_index_model(index.manifest)
        sample_zero_shot(index, embedder)
        faq_benchmark(index, embedder, args.seeds, shots, args.k)
        if adapter_shots:
            adapter_benchmark(Path(scratch), args.seeds, adapter_shots, args.k, args.max_steps)


if __name__ == "__main__":
    main()
