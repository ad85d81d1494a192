"""The task commands of the ``tasksift`` command line: similar, dupes, cluster, classify.

Each serves one task and goes through the guard (``tasks.guard``) before it loads anything
heavy. They are registered on ``cli.app`` when ``cli`` is imported; errors are
``TasksiftError``s, turned into a line and an exit code by ``cli.main`` like the others.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tasksift.cli.console import note, report_problems
from tasksift.cli.options import (
    RECORD_FORMATS,
    SEARCH_FORMATS,
    AnyTask,
    ExamplesOption,
    IndexPath,
    LabelsOption,
    MethodOption,
    PathGlobs,
    RecordFormat,
    SearchFormat,
    Types,
    document_filter,
)
from tasksift.options import OutputFormat
from tasksift.prompts import Task

if TYPE_CHECKING:
    from tasksift.index.reader import LoadedIndex
    from tasksift.tasks.classify import Prediction
    from tasksift.vectors.embedder import Embedder


def register(app: typer.Typer) -> None:
    for command in (similar, dupes, classify, cluster):
        app.command()(command)


ExplainGuard = Annotated[
    bool, typer.Option("--explain", help="Say why this index's vectors suit the command.")
]


def _open(
    index_path: Path | None, task: Task, command: str, any_task: bool, explain: bool
) -> LoadedIndex:
    """The index, once the guard lets ``command`` run on it: a refusal comes before numpy,
    pyarrow or a model is imported, so callers import those after this."""
    from tasksift.guard import check_task
    from tasksift.index.generations import find_index
    from tasksift.index.reader import load_index, read_manifest

    index_dir = find_index(index_path)
    manifest = read_manifest(index_dir)
    reason = check_task(manifest, task, command, any_task, index_dir)
    if explain or any_task and manifest.task is not task:
        note(reason)
    return load_index(index_dir, manifest)


def similar(
    document: Annotated[
        str | None,
        typer.Argument(
            metavar="[PATH]", help="A document of the index, by its path.", show_default=False
        ),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option("--text", help="A text instead of a document.", show_default=False),
    ] = None,
    index_path: IndexPath = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Documents to show.")] = 10,
    path_globs: PathGlobs = None,
    types: Types = None,
    any_task: AnyTask = False,
    explain: ExplainGuard = False,
    fmt: SearchFormat = None,
) -> None:
    """Documents most similar to a document of the index (no model needed) or to a text.

    Serves the similarity task: the index should be built with --task similarity.
    """
    if (document is None) == (text is None):
        raise typer.BadParameter("give either a document PATH or --text TEXT")
    if text is not None and not text.strip():
        raise typer.BadParameter("the text is empty", param_hint="--text")
    index = _open(index_path, Task.SIMILARITY, "similar", any_task, explain)
    from tasksift.output.emit import emit
    from tasksift.output.hits import hits_output
    from tasksift.tasks.similar import document_vector, similar_documents

    vector = document_vector(index, document) if document else _encode_text(index, text)
    where = document_filter(path_globs, types)
    hits = similar_documents(index, vector, k, exclude=document, where=where or None)
    emit(hits_output(document or text, hits), SEARCH_FORMATS.chosen(fmt))


def _document_embedder(index: LoadedIndex) -> Embedder:
    """The index's model, to encode given texts as its documents were (the ONNX fast path
    when the query prompt is the document prompt, as for every symmetric task)."""
    from tasksift.search.dense import load_query_embedder, open_query_embedder

    prompts = index.manifest.prompts
    same = (prompts.query, prompts.query_adapter) == (prompts.document, prompts.document_adapter)
    if not same:
        return load_query_embedder(index.manifest)
    embedder, skipped = open_query_embedder(index.path, index.manifest)
    if skipped:
        note(skipped)
    return embedder


def _encode_text(index: LoadedIndex, text: str) -> Any:
    """``text`` encoded with the index's document prompt."""
    from tasksift.tasks.common import encode_documents

    return encode_documents(index, _document_embedder(index), [text])[0]


def dupes(
    threshold: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Cosine of two documents' vectors from which they count."
        ),
    ] = 0.9,
    chunks: Annotated[
        bool, typer.Option("--chunks", help="Repeated passages (chunks) across documents.")
    ] = False,
    index_path: IndexPath = None,
    any_task: AnyTask = False,
    explain: ExplainGuard = False,
    fmt: RecordFormat = None,
) -> None:
    """Groups of near-duplicate documents (or passages), each with a representative.

    Serves the similarity task: the index should be built with --task similarity.
    """
    index = _open(index_path, Task.SIMILARITY, "dupes", any_task, explain)
    from tasksift.output.emit import emit
    from tasksift.output.reports import dupes_table, records_output
    from tasksift.tasks.dupes import duplicate_groups

    groups = duplicate_groups(index, threshold, chunks)
    records = [_group_record(g) for g in groups]
    rows = [
        [g.number, m.item, f"{m.similarity:.6f}", "representative" if i == 0 else "member"]
        for g in groups
        for i, m in enumerate(g.members)
    ]
    document = {"threshold": threshold, "groups": records}
    table = partial(dupes_table, groups, threshold)
    emit(records_output(table, records, rows, document), RECORD_FORMATS.chosen(fmt))


def _group_record(group: Any) -> dict[str, Any]:
    return {
        "group": group.number,
        "representative": group.representative,
        "members": [{"id": m.item, "similarity": round(m.similarity, 6)} for m in group.members],
        "pairs": [{"a": a, "b": b, "similarity": round(s, 6)} for a, b, s in group.pairs],
    }


NeighboursOption = Annotated[
    int, typer.Option("--neighbours", min=1, help="Examples that vote, with --method knn.")
]


def predict(
    index: LoadedIndex,
    labels_file: Path | None,
    examples_file: Path | None,
    method: str,
    neighbours: int,
    texts: list[tuple[str, str]] | None = None,
) -> list[Prediction]:
    """Predictions for the index's documents, or for ``texts`` given as (item, text)."""
    from tasksift.tasks.classify import (
        check_method,
        classify_index,
        classify_texts,
        read_examples,
        read_labels,
    )

    if labels_file is None and examples_file is None:
        raise typer.BadParameter("give --labels FILE (zero-shot) or --examples FILE (few-shot)")
    check_method(method)
    labels = read_labels(labels_file) if labels_file else None
    examples = read_examples(examples_file) if examples_file else None
    embedder = _document_embedder(index)
    if texts is None:
        return classify_index(index, embedder, labels, examples, method, neighbours)
    items, bodies = [i for i, _ in texts], [t for _, t in texts]
    return classify_texts(index, embedder, bodies, items, labels, examples, method, neighbours)


def classify(
    labels_file: LabelsOption = None,
    examples_file: ExamplesOption = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text", help="Classify this text instead of the documents.", show_default=False
        ),
    ] = None,  # fmt: skip
    texts_file: Annotated[
        str | None,
        typer.Option(
            "--texts",
            help="Classify a file of texts (as search --queries; - for stdin).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    method: MethodOption = "centroid",
    neighbours: NeighboursOption = 5,
    index_path: IndexPath = None,
    any_task: AnyTask = False,
    explain: ExplainGuard = False,
    fmt: RecordFormat = None,
) -> None:
    """Label every document (or --text, or --texts) from labels or labelled examples.

    Serves the classification task: the index should be built with --task classification.
    Prints the label, its score and the runner-up for each.
    """
    from tasksift.queries import read_queries

    if text is not None and texts_file is not None:
        raise typer.BadParameter("give --text or --texts, not both")
    if text is not None and not text.strip():
        raise typer.BadParameter("the text is empty", param_hint="--text")
    batch = read_queries(texts_file) if texts_file is not None else None
    index = _open(index_path, Task.CLASSIFICATION, "classify", any_task, explain)
    texts = [("1", text)] if text is not None else None
    if batch is not None:
        report_problems(batch)
        texts = [(q.qid, q.text) for q in batch.queries]
    predictions = predict(index, labels_file, examples_file, method, neighbours, texts)
    from tasksift.output.emit import emit
    from tasksift.output.reports import predictions_table, records_output

    rows = [[p.item, p.label, f"{p.score:.6f}", p.runner_up,
             None if p.runner_up_score is None else f"{p.runner_up_score:.6f}"]
            for p in predictions]  # fmt: skip
    records = [_prediction_record(p) for p in predictions]
    table = partial(predictions_table, predictions)
    emit(records_output(table, records, rows), RECORD_FORMATS.chosen(fmt))


def _prediction_record(p: Prediction) -> dict[str, Any]:
    second = None if p.runner_up_score is None else round(p.runner_up_score, 6)
    return {"item": p.item, "label": p.label, "score": round(p.score, 6),
            "runner_up": p.runner_up, "runner_up_score": second}  # fmt: skip


def cluster(
    n: Annotated[
        int | None,
        typer.Option("-n", "--clusters", min=2, help="Number of clusters.", show_default=False),
    ] = None,
    auto: Annotated[
        bool, typer.Option("--auto", help="Choose the number of clusters (best silhouette).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same clusters.")] = 0,
    index_path: IndexPath = None,
    any_task: AnyTask = False,
    explain: ExplainGuard = False,
    fmt: RecordFormat = None,
) -> None:
    """Group the documents into clusters, each with its size, central documents and a label.

    Serves the clustering task: the index should be built with --task clustering. Tables
    show a summary; JSON Lines and TSV give each document's cluster (doc_id, cluster).
    """
    if (n is None) == (not auto):
        raise typer.BadParameter("give either -n K or --auto")
    index = _open(index_path, Task.CLUSTERING, "cluster", any_task, explain)
    from tasksift.output.emit import emit
    from tasksift.output.reports import clusters_table, records_output
    from tasksift.tasks.cluster import cluster_documents

    result = cluster_documents(index, n=n, auto=auto, seed=seed)
    if explain and result.scores:
        tried = ", ".join(f"k={k}: {s:.3f}" for k, s in sorted(result.scores.items()))
        note(f"silhouette by k: {tried}")
    pairs = result.assignments.items()
    lines = [{"doc_id": doc_id, "cluster": number} for doc_id, number in pairs]
    rows = [[doc_id, number] for doc_id, number in pairs]
    document = _clustering_record(result)
    table = partial(clusters_table, result)
    emit(records_output(table, lines, rows, document), RECORD_FORMATS.chosen(fmt))


def _clustering_record(result: Any) -> dict[str, Any]:
    return {
        "method": result.method,
        "seed": result.seed,
        "clusters": [
            {
                "cluster": c.number,
                "size": c.size,
                "label": c.label,
                "terms": list(c.terms),
                "central": list(c.central),
            }  # fmt: skip
            for c in result.clusters
        ],
        "assignments": result.assignments,
    }


def evaluate_labels(
    index_path: Path | None,
    labels_file: Path | None,
    examples_file: Path | None,
    gold_file: Path | None,
    method: str,
    any_task: bool,
    out_format: OutputFormat,
) -> None:
    """``tasksift eval --labels/--examples --gold``: accuracy and macro-F1 of classify."""
    if gold_file is None:
        raise typer.BadParameter("classification needs --gold FILE (doc_id<TAB>label)")
    from tasksift.tasks.classify import read_gold

    gold = read_gold(gold_file)
    index = _open(index_path, Task.CLASSIFICATION, "classify", any_task, False)
    from tasksift.output.emit import emit
    from tasksift.output.reports import classification_output
    from tasksift.tasks.classify import accuracy_and_macro_f1

    predictions = predict(index, labels_file, examples_file, method, 5)
    report = accuracy_and_macro_f1(predictions, gold)
    emit(classification_output(report), out_format)
