"""Training pairs for a classification or clustering adapter from labelled examples (the
``label<TAB>text`` file ``classify --examples`` takes), and its held-out figure.

SetFit's recipe, as a plain contrastive loop: two examples of one label are a positive
pair; the examples of the other labels in the batch are the negatives (the label is the
pair's group, so no two pairs of one label share a batch). A fifth of each label's
examples (one at least, from labels with three or more) is held out; the figure is the
accuracy of the centroid classifier (each label's mean training example) on them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tasksift.adapt.pairs import Pair
from tasksift.prompts import PromptSet
from tasksift.tasks.classify import centroids

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

HELD_OUT_FRACTION = 0.2
PARTNERS = 4  # positives drawn for each example (pairs grow linearly, not quadratically)

Example = tuple[str, str]  # (label, text)


def split_examples(examples: Sequence[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """(training, held out): a fifth of each label's examples (labels with three or more)."""
    rng = random.Random(seed)
    training: list[Example] = []
    held: list[Example] = []
    for label in dict.fromkeys(label for label, _ in examples):
        texts = [text for name, text in examples if name == label]
        rng.shuffle(texts)
        count = max(1, round(len(texts) * HELD_OUT_FRACTION)) if len(texts) >= 3 else 0
        held += [(label, text) for text in texts[:count]]
        training += [(label, text) for text in texts[count:]]
    return training, held


def example_pairs(examples: Sequence[Example], seed: int) -> list[Pair]:
    """Each example with up to ``PARTNERS`` other examples of its label, as positive pairs."""
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for label, text in examples:
        by_label.setdefault(label, []).append(text)
    pairs = []
    for label, texts in by_label.items():
        for number, text in enumerate(texts):
            others = texts[:number] + texts[number + 1 :]
            for partner in rng.sample(others, min(PARTNERS, len(others))):
                pairs.append(Pair(text, partner, label, "example"))
    return pairs


def centroid_accuracy(
    model: SentenceTransformer,
    training: Sequence[Example],
    held_out: Sequence[Example],
    prompts: PromptSet,
) -> float:
    """Accuracy on ``held_out`` of the nearest centroid of the ``training`` examples."""
    import torch

    if not held_out:
        return float("nan")
    with torch.no_grad():
        vectors = model.encode([text for _, text in [*training, *held_out]],
                               prompt=prompts.document, normalize_embeddings=True,
                               convert_to_numpy=True)  # fmt: skip
    labels = [label for label, _ in training]
    names = list(dict.fromkeys(labels))
    label_vectors = centroids(np.asarray(vectors[: len(training)]), labels)
    chosen = np.argmax(np.asarray(vectors[len(training) :]) @ label_vectors.T, axis=1)
    right = [names[c] == label for c, (label, _) in zip(chosen, held_out, strict=True)]
    return float(np.mean(right))
