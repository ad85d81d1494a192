"""Classification: the numpy core on synthetic vectors, the files it reads, its metrics,
and zero-shot classification of the sample corpus by topic name with the real model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tasksift.errors import InputError, UsageError
from tasksift.tasks.classify import (
    LabelSpec,
    Prediction,
    accuracy_and_macro_f1,
    classify_index,
    classify_texts,
    few_shot,
    read_examples,
    read_gold,
    read_labels,
    zero_shot,
)

TOPICS = ["cooking", "health", "law", "lending-and-banking", "machine-learning"]
TOPICS += ["rivers-and-ecology"]


def at(*degrees: float) -> np.ndarray:
    """Unit vectors in the plane at the given angles."""
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


# ---------------------------------------------------------------- numpy core


def test_zero_shot_picks_the_nearest_label_and_the_runner_up() -> None:
    labels = np.eye(3, dtype=np.float32)
    targets = np.array([[0.9, 0.3, 0.1], [0.1, 0.2, 0.8], [0.0, 2.0, 0.0]], dtype=np.float32)
    found = zero_shot(targets, labels, ["a", "b", "c"], ["x", "y", "z"])
    assert [(p.item, p.label, p.runner_up) for p in found] == [
        ("x", "a", "b"),
        ("y", "c", "b"),
        ("z", "b", "a"),  # a tie between a and c goes to the label listed first
    ]
    norm = math.sqrt(0.91)
    assert found[0].score == pytest.approx(0.9 / norm)
    assert found[0].runner_up_score == pytest.approx(0.3 / norm)
    assert found[2].score == pytest.approx(1.0)  # cosine: the target's length does not count


def test_zero_shot_with_one_label_has_no_runner_up() -> None:
    (only,) = zero_shot(at(10), at(0), ["a"], ["x"])
    assert (only.label, only.runner_up, only.runner_up_score) == ("a", None, None)


# Label a: three examples at 0 degrees and one at 60; label b: three at 80. The target at
# 50 degrees is nearer b's centroid (80) than a's (about 14), but its nearest example is a's.
EXAMPLES = at(0, 0, 0, 60, 80, 80, 80)
EXAMPLE_LABELS = ["a", "a", "a", "a", "b", "b", "b"]


def test_centroid_and_knn_disagree_where_they_should() -> None:
    target = at(50)
    (centroid,) = few_shot(target, EXAMPLES, EXAMPLE_LABELS, ["t"], method="centroid")
    assert (centroid.label, centroid.runner_up) == ("b", "a")
    assert centroid.score == pytest.approx(math.cos(math.radians(30)), abs=1e-6)
    a_mean = math.degrees(math.atan2(math.sin(math.radians(60)), 3 + math.cos(math.radians(60))))
    assert centroid.runner_up_score == pytest.approx(math.cos(math.radians(50 - a_mean)), abs=1e-6)

    (one,) = few_shot(target, EXAMPLES, EXAMPLE_LABELS, ["t"], method="knn", k=1)
    assert (one.label, one.score, one.runner_up, one.runner_up_score) == ("a", 1.0, None, None)

    (two,) = few_shot(target, EXAMPLES, EXAMPLE_LABELS, ["t"], method="knn", k=2)
    near_a, near_b = math.cos(math.radians(10)), math.cos(math.radians(30))
    assert (two.label, two.runner_up) == ("a", "b")
    assert two.score == pytest.approx(near_a / (near_a + near_b), abs=1e-6)
    assert two.runner_up_score == pytest.approx(near_b / (near_a + near_b), abs=1e-6)

    (three,) = few_shot(target, EXAMPLES, EXAMPLE_LABELS, ["t"], method="knn", k=3)
    assert (three.label, three.runner_up) == ("b", "a")  # two votes of b outweigh one of a
    assert three.score + three.runner_up_score == pytest.approx(1.0)


def test_knn_k_larger_than_the_examples_uses_them_all() -> None:
    found = few_shot(at(5, 85), EXAMPLES, EXAMPLE_LABELS, ["x", "y"], method="knn", k=100)
    assert [(p.label, p.runner_up) for p in found] == [("a", "b"), ("b", "a")]


def test_unknown_method_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown few-shot method 'svm'"):
        few_shot(at(0), EXAMPLES, EXAMPLE_LABELS, ["t"], method="svm")  # type: ignore[arg-type]


# ---------------------------------------------------------------- files


def write(tmp_path: Path, text: str, name: str = "file.tsv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_labels_skips_comments_and_describes_bare_labels_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "# topics\n\ncooking\tfood and recipes\nlaw\n  \nhealth\t \n")
    assert read_labels(path) == [
        LabelSpec("cooking", "food and recipes"),
        LabelSpec("law", "law"),
        LabelSpec("health", "health"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a\tone\nb\ttwo\na\tthree\n",
            r"file\.tsv:3: label 'a' is listed twice \(first on line 1\)",
        ),
        ("# only one\na\tone\n", "names 1 label"),
        ("a\n\tno label\n", r"file\.tsv:2: labels line starts with an empty field"),
    ],
)
def test_read_labels_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as raised:
        read_labels(write(tmp_path, text))
    assert "\n" not in str(raised.value)


def test_unreadable_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read labels file .*missing.tsv"):
        read_labels(tmp_path / "missing.tsv")
    binary = tmp_path / "binary.tsv"
    binary.write_bytes(b"\xff\xfe\x00a\tb\n")
    with pytest.raises(InputError, match="cannot read examples file .*not UTF-8"):
        read_examples(binary)


def test_read_examples(tmp_path: Path) -> None:
    path = write(tmp_path, "# few shots\na\tfirst text\nb\tsecond\ttabbed text\na\tthird\n")
    assert read_examples(path) == [
        ("a", "first text"),
        ("b", "second\ttabbed text"),
        ("a", "third"),
    ]
    with pytest.raises(InputError, match=r"file\.tsv:2: example for 'b' has no text"):
        read_examples(write(tmp_path, "a\tone\nb\n"))
    with pytest.raises(InputError, match="names 1 label"):
        read_examples(write(tmp_path, "a\tone\na\ttwo\n"))


def test_read_gold(tmp_path: Path) -> None:
    assert read_gold(write(tmp_path, "x\ta\n# c\ny\tb\n")) == {"x": "a", "y": "b"}
    with pytest.raises(InputError, match=r"file\.tsv:2: item 'x' is labelled twice"):
        read_gold(write(tmp_path, "x\ta\nx\tb\n"))
    with pytest.raises(InputError, match=r"file\.tsv:1: item 'x' has no label"):
        read_gold(write(tmp_path, "x\n"))


# ---------------------------------------------------------------- metrics


def test_metrics_count_a_missing_item_as_wrong() -> None:
    predictions = [Prediction("x", "a", 0.9, "b", 0.1), Prediction("y", "a", 0.6, "b", 0.4)]
    predictions.append(Prediction("not judged", "b", 0.9, None, None))
    metrics = accuracy_and_macro_f1(predictions, {"x": "a", "y": "b", "z": "b"})
    assert metrics["items"] == 3 and metrics["missing"] == 1
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["per_label_f1"] == pytest.approx({"a": 2 / 3, "b": 0.0})
    assert metrics["macro_f1"] == pytest.approx(1 / 3)


# ---------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def indexed_sample(sample_index: Path):
    """The shared sample-corpus index, loaded, and its model."""
    from tasksift.index.reader import load_index
    from tasksift.onnx.embedder import load_index_model

    index = load_index(sample_index)
    return index, load_index_model(index.manifest)


def test_zero_shot_topic_names_classify_the_sample_corpus(indexed_sample) -> None:
    index, embedder = indexed_sample
    labels = [LabelSpec(topic, topic.replace("-", " ")) for topic in TOPICS]
    predictions = classify_index(index, embedder, labels=labels)
    assert [p.item for p in predictions] == list(index.documents.ids)
    gold = {p.item: p.item.split("/")[0] for p in predictions}
    metrics = accuracy_and_macro_f1(predictions, gold)
    assert metrics["items"] == 62 and metrics["missing"] == 0
    assert metrics["accuracy"] >= 0.9  # measured: 58 of 62 (0.935)


def test_few_shot_texts_with_the_real_model(indexed_sample) -> None:
    index, embedder = indexed_sample
    examples = [
        ("food", "Simmer the onions in butter until soft, then add the stock."),
        ("food", "Knead the dough and let it rise for an hour."),
        ("money", "The bank raised the interest rate on the mortgage."),
        ("money", "Your credit score affects whether the loan is approved."),
    ]
    texts = ["How long should a stew braise?", "Can I refinance my home loan at a lower rate?"]
    for method in ("centroid", "knn"):
        found = classify_texts(index, embedder, texts, examples=examples, method=method, k=3)
        assert [(p.item, p.label, p.runner_up) for p in found] == [
            ("1", "food", "money"),
            ("2", "money", "food"),
        ]
