"""``tasksift adapt``: train a LoRA adapter for an index's model from the index's own chunks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tasksift.cli.console import stderr, stdout_is_terminal
from tasksift.cli.options import IndexPath

if TYPE_CHECKING:
    from tasksift.adapt import AdaptReport


def register(app: typer.Typer) -> None:
    app.command()(adapt)


def adapt(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder to write the adapter to (PEFT format)."),
    ],
    index_path: IndexPath = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="Your own (query, relevant passage) pairs besides the pseudo-queries: TSV "
            "query<TAB>passage, or JSON Lines with query and text (or doc_id).",
            show_default=False,
        ),
    ] = None,
    examples: Annotated[
        Path | None,
        typer.Option(
            "--examples",
            help="Labelled examples (label<TAB>text lines, as classify takes) to train a "
            "classification or clustering index's adapter on: same label, close vectors.",
            show_default=False,
        ),
    ] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Training batches.")] = 100,
    batch_size: Annotated[
        int, typer.Option(min=2, help="Pairs per batch; each passage is the others' negative.")
    ] = 32,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank.")] = 8,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="AdamW learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of the shuffles and of the adapter.")] = 13,
    hard_negatives: Annotated[
        bool,
        typer.Option(
            help="Give each pair the chunk of another document the model ranks first for its "
            "query (from the index's vectors) as a negative, besides the batch's passages "
            "(1.5 times the memory; on SciFact they raised the held-out figure and lowered "
            "nDCG@10)."
        ),
    ] = False,
    teacher: Annotated[
        str | None,
        typer.Option(
            "--teacher",
            help="A cross-encoder (local folder or Hub id) to distil: it scores each pair's "
            "passage and a mined hard negative, and the adapter learns its margin (margin-MSE) "
            "besides the in-batch loss. Retrieval indexes.",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int,
        typer.Option(
            "--max-length",
            min=8,
            help="Cut training texts to this many tokens (at most the model's own limit; "
            "fewer train faster and in less memory; the index still embeds whole chunks).",
        ),
    ] = 128,
    pseudo_queries: Annotated[
        bool,
        typer.Option(
            help="Train on the pseudo-queries the index's chunks yield; with "
            "--no-pseudo-queries, on --pairs alone (the held-out figure still uses them)."
        ),
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace what --out holds (not an index's own).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Train an adapter (LoRA) for an index's model and task on your own material.

    Retrieval, from the index's own chunks: section headings ask for their sections, titles
    for their documents, sentences held out of chunks for the rest of them (no judgments
    needed); --pairs adds yours. A tenth of the documents is held out, and MRR@10 on them is
    shown before and after. Classification and clustering, from --examples: two examples of
    a label are pulled together, other labels' pushed apart (SetFit's recipe); a fifth of
    each label's examples is held out, and the centroid classifier's accuracy on them shown.
    Needs `pip install tasksift\\[adapt]` (peft).
    """
    from tasksift.adapt import adapt_index
    from tasksift.adapt.train import TrainSettings
    from tasksift.index.location import find_index
    from tasksift.progress import reporter_for

    index_dir = find_index(index_path)
    settings = TrainSettings(
        max_steps,
        batch_size,
        rank,
        learning_rate,
        seed,
        hard_negatives,
        teacher,
        pseudo_queries,
        max_length,
    )
    show = not quiet and stdout_is_terminal() and stderr.is_terminal
    with reporter_for(stderr, show=show, warnings=not quiet) as reporter:
        reporter.stage("training the adapter", max_steps)
        report = adapt_index(
            index_dir, out, settings, pairs, overwrite, lambda loss: reporter.advance(1), examples
        )
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.pairs.items()))
    typer.echo(
        f"trained {report.out} in {report.seconds:.1f} s ({report.steps} steps of up to "
        f"{batch_size} pairs; {kinds}{f'; distilled from {teacher}' if teacher else ''})\n"
        f"{_held_out(report)}\n"
        f"re-index with it: tasksift index {_corpus(index_dir)}{_task(report.task)} "
        f"--adapter {report.out} "
        "--index NEW_INDEX (or --rebuild)"
    )


def _corpus(index_dir: Path) -> str:
    from tasksift.index.reader import read_manifest

    return read_manifest(index_dir).corpus_root


def _held_out(report: AdaptReport) -> str:
    """The held-out figure's line: accuracy for examples, MRR@10 for retrieval."""
    if report.measure == "accuracy":
        return (
            f"held-out accuracy ({report.held_out} examples, nearest centroid of the "
            f"{report.pool} others): {report.before:.3f} before, {report.after:.3f} after"
        )
    return (
        f"held-out MRR@10 ({report.held_out} {_from(report.held_out_from)} among {report.pool} "
        "passages): "
        f"{report.before:.3f} before, {report.after:.3f} after"
    )


def _from(kind: str) -> str:
    return "of your pairs" if kind == "your pairs" else kind


def _task(task: str) -> str:
    return "" if task == "retrieval" else f" --task {task}"
