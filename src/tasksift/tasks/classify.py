"""Classification: documents or given texts against labels, zero-shot or from a few examples.

Zero-shot compares each target with the vector of each label's description; few-shot
compares it with labelled example texts, either through each label's centroid or by a
similarity-weighted vote of the k nearest examples. Descriptions and examples are encoded
with the index's document prompt, as its documents were (for the classification task both
sides share one prompt). ``read_gold`` and ``accuracy_and_macro_f1`` serve ``eval --labels``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tasksift.errors import InputError, UsageError
from tasksift.index.reader import LoadedIndex
from tasksift.tasks.common import DocumentVectors
from tasksift.vectors.embedder import Embedder
from tasksift.vectors.encoding import Role, encode_with_prompt

Method = Literal["centroid", "knn"]
METHODS: tuple[str, ...] = ("centroid", "knn")
MISSING = "\0missing"  # the prediction of an item the classifier never labelled


@dataclass(frozen=True)
class LabelSpec:
    """A label and the text that stands for it in zero-shot classification."""

    name: str
    description: str


@dataclass(frozen=True)
class Prediction:
    """The best label of one item (a document id, or a given text's id or number)."""

    item: str
    label: str
    score: float
    runner_up: str | None
    runner_up_score: float | None


# ---------------------------------------------------------------- files


def _tab_lines(path: Path, what: str) -> list[tuple[int, str, str]]:
    """``(line number, first field, rest)`` of each tab-separated line; blanks and ``#``
    comments skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InputError(f"cannot read {what} file {path}: {reason}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        first, _, rest = line.partition("\t")
        if not first.strip():
            raise InputError(f"{path}:{number}: {what} line starts with an empty field")
        rows.append((number, first.strip(), rest.strip()))
    return rows


def _require_two_labels(path: Path, what: str, labels: set[str]) -> None:
    if len(labels) < 2:
        raise InputError(
            f"{path}: {what} file names {len(labels)} label(s); classification needs at least 2"
        )


def read_labels(path: Path) -> list[LabelSpec]:
    """``label<TAB>description`` lines; without a description the label describes itself."""
    specs: dict[str, LabelSpec] = {}
    seen: dict[str, int] = {}
    for number, name, description in _tab_lines(path, "labels"):
        if name in seen:
            raise InputError(
                f"{path}:{number}: label {name!r} is listed twice (first on line {seen[name]})"
            )
        seen[name] = number
        specs[name] = LabelSpec(name, description or name)
    _require_two_labels(path, "labels", set(specs))
    return list(specs.values())


def read_examples(path: Path) -> list[tuple[str, str]]:
    """``label<TAB>text`` lines: labelled examples for few-shot classification."""
    examples = []
    for number, label, text in _tab_lines(path, "examples"):
        if not text:
            raise InputError(f"{path}:{number}: example for {label!r} has no text after a tab")
        examples.append((label, text))
    _require_two_labels(path, "examples", {label for label, _ in examples})
    return examples


def read_gold(path: Path) -> dict[str, str]:
    """``item<TAB>label`` lines: the true label of each item, for evaluation."""
    gold: dict[str, str] = {}
    for number, item, label in _tab_lines(path, "gold labels"):
        if not label:
            raise InputError(f"{path}:{number}: item {item!r} has no label after a tab")
        if item in gold:
            raise InputError(f"{path}:{number}: item {item!r} is labelled twice")
        gold[item] = label
    if not gold:
        raise InputError(f"{path}: gold labels file holds no labelled item")
    return gold


# ---------------------------------------------------------------- numpy


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


def _best_two(scores: np.ndarray, names: list[str], items: list[str]) -> list[Prediction]:
    """Winner and runner-up of each row of ``scores`` (items x labels); ties go to the label
    listed first. A runner-up whose score is ``-inf`` (not in the running) is None."""
    order = np.argsort(-scores, axis=1, kind="stable")
    predictions = []
    for row, item in enumerate(items):
        best = int(order[row, 0])
        second = int(order[row, 1]) if scores.shape[1] > 1 else None
        if second is not None and not np.isfinite(scores[row, second]):
            second = None
        predictions.append(
            Prediction(
                item=item,
                label=names[best],
                score=float(scores[row, best]),
                runner_up=None if second is None else names[second],
                runner_up_score=None if second is None else float(scores[row, second]),
            )
        )
    return predictions


def zero_shot(
    targets: np.ndarray, label_vectors: np.ndarray, names: list[str], items: list[str]
) -> list[Prediction]:
    """Each target's label: the highest cosine similarity to a label vector."""
    if len(names) != len(label_vectors) or len(items) != len(targets):
        raise ValueError("one name per label vector and one item per target are needed")
    return _best_two(_unit(targets) @ _unit(label_vectors).T, names, items)


def _distinct(labels: list[str]) -> list[str]:
    return list(dict.fromkeys(labels))


def centroids(example_vectors: np.ndarray, example_labels: list[str]) -> np.ndarray:
    """One unit vector per distinct label (first-seen order): its examples' normalized mean."""
    names = _distinct(example_labels)
    codes = np.asarray([names.index(label) for label in example_labels])
    sums = np.zeros((len(names), example_vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, codes, _unit(example_vectors))
    return _unit(sums)


def knn_votes(
    targets: np.ndarray, example_vectors: np.ndarray, example_labels: list[str], k: int
) -> np.ndarray:
    """Each label's share of a vote of the k nearest examples, weighted by (non-negative)
    cosine similarity; a label with no vote among them scores ``-inf``."""
    names = _distinct(example_labels)
    codes = np.asarray([names.index(label) for label in example_labels])
    similarity = _unit(targets) @ _unit(example_vectors).T
    k = max(1, min(k, similarity.shape[1]))
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    weights = np.clip(np.take_along_axis(similarity, nearest, axis=1), 0.0, None)
    weights[weights.sum(axis=1) == 0] = 1.0  # nothing similar at all: plain counts
    votes = np.zeros((len(targets), len(names)), dtype=np.float64)
    np.add.at(votes, (np.arange(len(targets))[:, None], codes[nearest]), weights)
    shares = votes / votes.sum(axis=1, keepdims=True)
    voted = np.zeros_like(votes, dtype=bool)
    np.put_along_axis(voted, codes[nearest], True, axis=1)
    return np.where(voted, shares, -np.inf)


def few_shot(
    targets: np.ndarray,
    example_vectors: np.ndarray,
    example_labels: list[str],
    items: list[str],
    method: Method = "centroid",
    k: int = 5,
) -> list[Prediction]:
    """Each target's label from labelled examples.

    ``centroid``: cosine to each label's normalized mean example. ``knn``: the label with
    the largest share of the similarity-weighted vote of the ``k`` nearest examples (the
    score is that share; the runner-up is None when no other label got a vote).
    """
    if len(example_labels) != len(example_vectors) or len(items) != len(targets):
        raise ValueError("one label per example vector and one item per target are needed")
    check_method(method)
    names = _distinct(example_labels)
    if method == "centroid":
        return zero_shot(targets, centroids(example_vectors, example_labels), names, items)
    scores = knn_votes(targets, example_vectors, example_labels, k)
    return _best_two(scores, names, items)


def check_method(method: str) -> None:
    if method not in METHODS:
        raise UsageError(f"unknown few-shot method {method!r}; use one of {', '.join(METHODS)}")


# ---------------------------------------------------------------- on an index


Classifier = Callable[[np.ndarray, list[str]], list[Prediction]]


def classifier(
    index: LoadedIndex,
    embedder: Embedder,
    labels: list[LabelSpec] | None = None,
    examples: list[tuple[str, str]] | None = None,
    method: Method = "centroid",
    k: int = 5,
) -> Classifier:
    """A function of (target vectors, items) built from labels (zero-shot) or examples.

    With both, examples decide (few-shot) and must cover exactly the listed labels.
    """
    if examples:
        check_method(method)
        if labels:
            _check_coverage(labels, examples)
        vectors = encode_with_prompt(
            embedder, index.manifest.prompts, Role.DOCUMENT, [text for _, text in examples]
        )
        names = [label for label, _ in examples]
        return lambda targets, items: few_shot(targets, vectors, names, items, method, k)
    if not labels:
        raise UsageError("classification needs labels or examples")
    vectors = encode_with_prompt(
        embedder, index.manifest.prompts, Role.DOCUMENT, [spec.description for spec in labels]
    )
    names = [spec.name for spec in labels]
    return lambda targets, items: zero_shot(targets, vectors, names, items)


def _check_coverage(labels: list[LabelSpec], examples: list[tuple[str, str]]) -> None:
    listed, used = {spec.name for spec in labels}, {label for label, _ in examples}
    if used - listed:
        raise InputError(f"examples use labels not in the labels file: {sorted(used - listed)}")
    if listed - used:
        raise InputError(f"labels without any example: {sorted(listed - used)}")


def classify_index(
    index: LoadedIndex,
    embedder: Embedder,
    labels: list[LabelSpec] | None = None,
    examples: list[tuple[str, str]] | None = None,
    method: Method = "centroid",
    k: int = 5,
) -> list[Prediction]:
    """A prediction for every document of the index (its mean chunk vector), by doc id."""
    predict = classifier(index, embedder, labels, examples, method, k)
    documents = DocumentVectors.of(index)
    return predict(documents.matrix, [str(d) for d in documents.ids])


def classify_texts(
    index: LoadedIndex,
    embedder: Embedder,
    texts: list[str],
    items: list[str] | None = None,
    labels: list[LabelSpec] | None = None,
    examples: list[tuple[str, str]] | None = None,
    method: Method = "centroid",
    k: int = 5,
) -> list[Prediction]:
    """A prediction for each given text, encoded as the index's documents were.

    ``items`` name the texts; by default they are numbered from 1.
    """
    items = items if items is not None else [str(n) for n in range(1, len(texts) + 1)]
    predict = classifier(index, embedder, labels, examples, method, k)
    return predict(
        encode_with_prompt(embedder, index.manifest.prompts, Role.DOCUMENT, texts), items
    )


# ---------------------------------------------------------------- evaluation


def accuracy_and_macro_f1(predictions: list[Prediction], gold: dict[str, str]) -> dict:
    """Accuracy, macro-F1 and per-label F1 over every gold item.

    A gold item without a prediction counts as wrong; predictions of items without a gold
    label are left out. Macro-F1 averages over the labels found in gold or predictions.
    """
    from sklearn.metrics import f1_score

    predicted = {p.item: p.label for p in predictions}
    items = list(gold)
    truth = [gold[item] for item in items]
    guess = [predicted.get(item, MISSING) for item in items]
    names = sorted(set(truth) | (set(guess) - {MISSING}))
    per_label = f1_score(truth, guess, labels=names, average=None, zero_division=0)
    right = sum(t == g for t, g in zip(truth, guess, strict=True))
    return {
        "accuracy": right / len(items) if items else 0.0,
        "macro_f1": float(np.mean(per_label)) if names else 0.0,
        "per_label_f1": {name: float(f) for name, f in zip(names, per_label, strict=True)},
        "items": len(items),
        "missing": sum(g == MISSING for g in guess),
    }
