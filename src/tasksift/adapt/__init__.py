"""``tasksift adapt``: train a LoRA adapter for an index's model and task on the user's material.

For retrieval, pairs come from the index (pseudo-queries, see ``pairs``) and from the user
(``--pairs``); a part of the documents is held out, and the adapter's figure on them
(MRR@10) is given before and after training. For classification and clustering, pairs
come from labelled examples (``--examples``, see ``examples``); the figure is the held-out
examples' accuracy under the centroid classifier. The adapter is written as a PEFT folder with
``tasksift_adapter.json`` beside it (task, base model and its weights fingerprint, how it
was trained), first into a staging folder, then renamed into place.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tasksift import __version__
from tasksift.adapt.distill import with_teacher_margins
from tasksift.adapt.examples import centroid_accuracy, example_pairs, split_examples
from tasksift.adapt.pairs import Pair, chunk_rows, pseudo_queries, read_pairs, split_held_out
from tasksift.adapt.train import (
    TrainSettings,
    add_lora,
    mean_reciprocal_rank,
    train,
    with_hard_negatives,
)
from tasksift.errors import InputError, UsageError
from tasksift.index.reader import LoadedIndex, load_index
from tasksift.prompts import PromptSet, Task
from tasksift.tasks.classify import read_examples
from tasksift.vectors.adapters import TASKSIFT_FILE
from tasksift.vectors.embedder import load_embedder

HELD_OUT_FRACTION = 0.1
HELD_OUT_LIMIT = 200  # queries
GIVEN_HELD_OUT_MIN = 100  # given pairs from which some are held out for the figure
POOL = 500  # passages each held-out query is ranked among


EXAMPLE_TASKS = (Task.CLASSIFICATION, Task.CLUSTERING)


@dataclass(frozen=True)
class AdaptReport:
    out: Path
    task: str
    pairs: dict[str, int]  # kind -> training pairs
    held_out: int
    pool: int  # passages the held-out queries are ranked among; examples they are told from
    before: float  # MRR@10 on the held-out queries, or accuracy on the held-out examples
    after: float
    steps: int
    seconds: float
    measure: str = "mrr@10"  # or "accuracy"
    held_out_from: str = "pseudo-queries"  # or "your pairs", "examples"


@dataclass(frozen=True)
class Material:
    """What an adapter trains on, and the held-out figure of a model on the rest."""

    training: list[Pair]
    measure: str
    held_out: int
    pool: int
    figure: Callable[[object], float]  # model -> figure
    held_out_from: str = "pseudo-queries"


def adapt_index(
    index_dir: Path,
    out: Path,
    settings: TrainSettings,
    pairs_file: Path | None = None,
    overwrite: bool = False,
    advance: Callable[[float], None] = lambda loss: None,
    examples_file: Path | None = None,
) -> AdaptReport:
    """Train an adapter for the task of the index at ``index_dir`` and write it to ``out``."""
    index = load_index(index_dir, lexical=False)
    manifest = index.manifest
    _check_out(out, index, overwrite)
    rows = chunk_rows(index)
    if settings.teacher is not None and manifest.task is not Task.RETRIEVAL:
        raise InputError(
            f"index {index_dir} is for {manifest.task.value}; --teacher distils a cross-encoder's "
            "ranking into a retrieval adapter"
        )
    if manifest.task in EXAMPLE_TASKS:
        material = _from_examples(index_dir, manifest.task, manifest.prompts, examples_file,
                                  pairs_file, settings.seed)  # fmt: skip
    else:
        material = _from_pairs(index_dir, manifest.task, manifest.prompts, rows, pairs_file,
                               examples_file, settings)  # fmt: skip
    embedder = load_embedder(
        manifest.model.name,
        trust_remote_code=manifest.model.trust_remote_code,
        expected_fingerprint=manifest.model.fingerprint,
    )
    model = embedder.model
    before = material.figure(model)
    training = material.training
    if (settings.hard_negatives or settings.teacher) and manifest.task is Task.RETRIEVAL:
        vectors = index.vectors.of(index.labels)  # rows in label order, as ``rows``
        training = with_hard_negatives(model, training, rows, vectors, manifest.prompts)
    if settings.teacher is not None:
        training = with_teacher_margins(training, settings.teacher)
    add_lora(model, settings)
    seconds = train(model, training, manifest.prompts, settings, advance)
    report = AdaptReport(
        out=out.resolve(),
        task=manifest.task.value,
        pairs=_kinds(training),
        held_out=material.held_out,
        pool=material.pool,
        before=before,
        after=material.figure(model),
        steps=settings.steps,
        seconds=seconds,
        measure=material.measure,
        held_out_from=material.held_out_from,
    )
    _save(model, out, manifest.model.name, manifest.model.fingerprint, report, settings)
    return report


def _from_pairs(
    index_dir: Path,
    task: Task,
    prompts: PromptSet,
    rows: list[dict],
    pairs_file: Path | None,
    examples_file: Path | None,
    settings: TrainSettings,
) -> Material:
    """Retrieval: pseudo-queries and/or the user's pairs; MRR@10 on held-out documents:
    the user's own pairs where they give enough (pseudo-queries can rise while real
    queries fall), else pseudo-queries, which need no judgments."""
    if task is not Task.RETRIEVAL:
        raise InputError(
            f"index {index_dir} is for {task.value}; `tasksift adapt` trains retrieval adapters "
            "(from an index's chunks and --pairs) and classification and clustering ones "
            "(from --examples)"
        )
    if examples_file is not None:
        raise InputError(
            f"index {index_dir} is for retrieval; --examples trains classification and "
            "clustering adapters (give retrieval pairs with --pairs)"
        )
    if not settings.pseudo_queries and pairs_file is None:
        raise UsageError("--no-pseudo-queries trains on --pairs alone: give --pairs FILE")
    seed = settings.seed
    found = pseudo_queries(rows, seed)
    given = read_pairs(pairs_file, rows) if pairs_file is not None else []
    training, held_out = split_held_out(found, HELD_OUT_FRACTION, HELD_OUT_LIMIT, seed)
    held_out_from = "pseudo-queries"
    if len(given) >= GIVEN_HELD_OUT_MIN:
        given, held_out = split_held_out(given, HELD_OUT_FRACTION, HELD_OUT_LIMIT, seed)
        held_out_from = "your pairs"
    training = [*training, *given] if settings.pseudo_queries else given
    if len({p.group for p in training}) < 2:
        raise InputError(
            f"index {index_dir} yields too few training pairs ({len(training)}) for an "
            "adapter; give some with --pairs"
        )
    pool = _distractors(rows, held_out, seed)
    return Material(
        training,
        "mrr@10",
        len(held_out),
        len(held_out) + len(pool),
        lambda model: mean_reciprocal_rank(model, held_out, pool, prompts),
        held_out_from,
    )


def _from_examples(
    index_dir: Path,
    task: Task,
    prompts: PromptSet,
    examples_file: Path | None,
    pairs_file: Path | None,
    seed: int,
) -> Material:
    """Classification, clustering: pairs of same-label examples; held-out accuracy."""
    if examples_file is None or pairs_file is not None:
        raise InputError(
            f"index {index_dir} is for {task.value}; its adapter trains on labelled examples: "
            "--examples FILE (label<TAB>text lines, as classify takes), not --pairs"
        )
    training, held_out = split_examples(read_examples(examples_file), seed)
    pairs = example_pairs(training, seed)
    if len({p.group for p in pairs}) < 2:
        raise InputError(
            f"{examples_file} gives too few examples for an adapter: two labels with two "
            "examples or more each are needed"
        )
    return Material(
        pairs,
        "accuracy",
        len(held_out),
        len(training),
        lambda model: centroid_accuracy(model, training, held_out, prompts),
        "examples",
    )


def _check_out(out: Path, index: LoadedIndex, overwrite: bool) -> None:
    """Refuse to write over the index's own adapter, or over anything without --overwrite."""
    held = index.manifest.adapter
    if held is not None and Path(held.path) == out.resolve():
        raise InputError(
            f"{out} is the adapter index {index.path} was built with; write the new one "
            "elsewhere (--out), then re-index with it"
        )
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out} is a file, not a folder")
    if any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} exists and is not empty; pass --overwrite to replace it")


def _distractors(rows: list[dict], held_out: list[Pair], seed: int) -> list[str]:
    """Chunks of other documents than the held-out ones, to rank their passages among."""
    held = {p.group for p in held_out}
    others = [str(r["text"]) for r in rows if str(r["doc_id"]) not in held]
    random.Random(seed).shuffle(others)
    return others[: max(0, POOL - len(held_out))]


def _settings(settings: TrainSettings, task: str) -> dict[str, object]:
    """The settings an adapter was trained with, less those its task does not use."""
    used = asdict(settings)
    if task != Task.RETRIEVAL.value:
        used.pop("pseudo_queries")
    return used


def _kinds(pairs: list[Pair]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair.kind] = counts.get(pair.kind, 0) + 1
    return counts


def _save(
    model, out: Path, base: str, fingerprint: str, report: AdaptReport, settings: TrainSettings
) -> None:
    """Write the adapter folder through a staging folder, replacing ``out`` at the end."""
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model[0].model.save_pretrained(str(staging))
    facts = {
        "task": report.task,
        "base_model": base,
        "base_fingerprint": fingerprint,
        "trained": {**_settings(settings, report.task), "pairs": report.pairs,
                    "seconds": round(report.seconds, 1)},
        "held_out": {"from": report.held_out_from, "queries": report.held_out,
                     "pool": report.pool,
                     f"{report.measure}_before": report.before,
                     f"{report.measure}_after": report.after},
        "tool_version": __version__,
    }  # fmt: skip
    (staging / TASKSIFT_FILE).write_text(json.dumps(facts, indent=2), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
