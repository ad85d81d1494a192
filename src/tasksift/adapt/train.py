"""Train a LoRA adapter on a frozen sentence-transformers model, and measure it.

The loss is the in-batch negatives one (sentence-transformers' MultipleNegativesRanking):
each query's passage against every other passage of its batch and the batch's mined hard
negatives (``with_hard_negatives``), cross-entropy over scaled cosine similarities. Pairs
a teacher scored (``distill``) add margin-MSE: the scaled cosine margin of passage over
negative against the teacher's score margin. A plain torch loop, on CPU, with peft's LoRA
on the model's attention (peft's default target modules for its architecture).
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from tasksift.adapt.pairs import Pair
from tasksift.errors import ModelLoadError, first_line
from tasksift.prompts import PromptSet
from tasksift.vectors.adapters import import_peft

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

SCALE = 20.0  # inverse temperature of the cosine similarities (MNRL's default)
MRR_DEPTH = 10


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 100
    batch_size: int = 32
    rank: int = 8
    learning_rate: float = 1e-3  # 2e-4 left SciFact unchanged (README)
    seed: int = 13
    hard_negatives: bool = False  # they hurt SciFact (README, bench/adapters.py)
    teacher: str | None = None  # a cross-encoder to distil (mines hard negatives to score)
    pseudo_queries: bool = True  # train on the index's pseudo-queries besides given pairs
    max_length: int | None = 128  # tokens a training text is cut to (None: the model's)


def add_lora(model: SentenceTransformer, settings: TrainSettings) -> None:
    """Wrap the model's transformer in a fresh, trainable LoRA adapter (its initial
    weights drawn from ``settings.seed``)."""
    import torch

    peft = import_peft()
    torch.manual_seed(settings.seed)
    module = model[0]
    config = peft.LoraConfig(r=settings.rank, lora_alpha=2 * settings.rank, lora_dropout=0.1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # peft's deprecation warnings about transformers
            module.model = peft.get_peft_model(module.model, config)
    except ValueError as exc:  # an architecture peft has no default target modules for
        raise ModelLoadError(f"cannot put a LoRA adapter on this model: {first_line(exc)}") from exc


def train(
    model: SentenceTransformer,
    pairs: Sequence[Pair],
    prompts: PromptSet,
    settings: TrainSettings,
    advance: Callable[[float], None],
) -> float:
    """Train the model's LoRA adapter for ``settings.steps`` batches; the seconds it took.
    ``advance`` is told each step's loss."""
    import torch

    torch.manual_seed(settings.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate)
    decay = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 1.0 - step / max(1, settings.steps)
    )
    began = time.perf_counter()
    model_length = model.max_seq_length
    model.max_seq_length = min(model_length, settings.max_length or model_length)
    model.train()
    try:
        for batch in _batches(pairs, settings):
            loss = _loss(model, batch, prompts)
            loss.backward()
            optimizer.step()
            decay.step()
            optimizer.zero_grad()
            advance(float(loss.detach()))
    finally:
        model.eval()
        model.max_seq_length = model_length  # what the index embeds with, unchanged
    return time.perf_counter() - began


def _loss(model: SentenceTransformer, batch: Sequence[Pair], prompts: PromptSet) -> torch.Tensor:
    """In-batch cross-entropy of the batch's queries over its passages and negatives, plus
    margin-MSE where a teacher gave margins."""
    import torch

    queries = _embed(model, [prompts.query + p.query for p in batch])
    texts = [p.text for p in batch] + [p.negative for p in batch if p.negative]
    passages = _embed(model, [prompts.document + text for text in texts])
    scores = queries @ passages.T * SCALE
    loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch)))
    return loss + _margin_loss(scores, batch)


def _margin_loss(scores: torch.Tensor, batch: Sequence[Pair]) -> torch.Tensor:
    """Margin-MSE over the batch's pairs with a teacher margin (0 when none has one).
    ``scores`` columns: the batch's passages, then its negatives in pair order."""
    import torch

    rows, negatives, targets = [], [], []
    column = len(batch)
    for row, pair in enumerate(batch):
        if pair.negative:
            if pair.margin is not None:
                rows.append(row)
                negatives.append(column)
                targets.append(pair.margin)
            column += 1
    if not rows:
        return scores.new_zeros(())
    index = torch.tensor(rows)
    student = scores[index, index] - scores[index, torch.tensor(negatives)]
    return torch.nn.functional.mse_loss(student, torch.tensor(targets, dtype=scores.dtype))


def with_hard_negatives(
    model: SentenceTransformer,
    pairs: Sequence[Pair],
    rows: Sequence[dict],
    vectors: np.ndarray,
    prompts: PromptSet,
    depth: int = 10,
) -> list[Pair]:
    """Each pair with the chunk of another document that the model ranks first for its
    query among the index's stored ``vectors`` (one per row of ``rows``): a negative much
    harder than the random passages of its batch."""
    import torch

    with torch.no_grad():
        queries = model.encode([p.query for p in pairs], prompt=prompts.query,
                               normalize_embeddings=True, convert_to_numpy=True)  # fmt: skip
    depth = min(depth, len(rows))
    mined = []
    for begin in range(0, len(pairs), 64):
        scores = np.asarray(queries[begin : begin + 64]) @ vectors.T
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        for number, pair in enumerate(pairs[begin : begin + 64]):
            order = top[number][np.argsort(-scores[number, top[number]])]
            other = next((rows[int(i)] for i in order if _another(rows[int(i)], pair)), None)
            mined.append(replace(pair, negative=other and str(other["text"])))
    return mined


def _another(row: dict, pair: Pair) -> bool:
    return str(row["doc_id"]) != pair.group and str(row["text"]) != pair.text


def _batches(pairs: Sequence[Pair], settings: TrainSettings) -> list[list[Pair]]:
    """``steps`` batches over the shuffled pairs (again and again), no document twice in a
    batch, so that no other passage of a batch is a right answer too."""
    rng = random.Random(settings.seed)
    batches: list[list[Pair]] = []
    order: list[Pair] = []
    while len(batches) < settings.steps:
        if not order:
            order = list(pairs)
            rng.shuffle(order)
        batch, groups, rest = [], set(), []
        for pair in order:
            if len(batch) < settings.batch_size and pair.group not in groups:
                batch.append(pair)
                groups.add(pair.group)
            else:
                rest.append(pair)
        order = rest
        if len(batch) > 1:
            batches.append(batch)
        elif not rest:
            break  # fewer than two documents: nothing to learn from
    return batches


def _embed(model: SentenceTransformer, texts: list[str]) -> torch.Tensor:
    """Unit vectors of ``texts``, with gradients (up to the model's max sequence length)."""
    import torch

    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 5.x
    vectors = model(preprocess(texts))["sentence_embedding"]
    return torch.nn.functional.normalize(vectors, dim=-1)


def mean_reciprocal_rank(
    model: SentenceTransformer, held_out: Sequence[Pair], pool: Sequence[str], prompts: PromptSet
) -> float:
    """MRR@10 of the held-out queries, each against its passage among ``pool`` (the other
    held-out passages and distractor chunks)."""
    import torch

    if not held_out:
        return float("nan")
    texts = [p.text for p in held_out] + list(pool)
    with torch.no_grad():
        encode = model.encode
        queries = encode([p.query for p in held_out], prompt=prompts.query,
                         normalize_embeddings=True, convert_to_numpy=True)  # fmt: skip
        passages = encode(texts, prompt=prompts.document, normalize_embeddings=True,
                          convert_to_numpy=True)  # fmt: skip
    scores = np.asarray(queries) @ np.asarray(passages).T
    right = scores[np.arange(len(held_out)), np.arange(len(held_out))]
    ranks = 1 + (scores > right[:, None]).sum(axis=1)
    return float(np.mean(np.where(ranks <= MRR_DEPTH, 1.0 / ranks, 0.0)))
