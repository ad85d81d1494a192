"""Reports: evaluation against judgments, and the task commands' groups, labels, clusters."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tasksift.output.emit import Output


def eval_output(rows: list[Any], report: dict[str, Any]) -> Output:
    """An evaluation: a table of its runs, or its report as one JSON document."""

    def tables() -> list[Table]:
        compared = report.get("comparisons")
        return [eval_table(rows, report)] + ([comparison_table(compared)] if compared else [])

    return Output(table=tables, json=lambda: [report])


def classification_output(report: dict[str, Any]) -> Output:
    """Accuracy and macro-F1 against gold labels: a table, or one JSON document."""
    return Output(table=lambda: [classification_table(report)], json=lambda: [report])


def records_output(
    table: Any, records: list[dict[str, Any]], rows: list[list[object]], document: object = None
) -> Output:
    """A task command's results: a rich ``table``, one JSON ``document`` (``records`` as a
    list when None), JSON Lines ``records`` and TSV ``rows``."""
    return Output(
        table=lambda: [table()],
        json=lambda: [records if document is None else document],
        jsonl=lambda: records,
        tsv=lambda: rows,
    )


def eval_table(rows: list[Any], report: dict[str, Any]) -> Table:
    """Evaluation rows (one per run) as percentages with their 95% intervals, and the
    ANN-vs-exact overlap."""
    names = list(rows[0].measures)
    table = Table(title=f"{report['queries']} judged queries", title_justify="left")
    table.add_column("run", style="bold", overflow="fold")
    for name in names:
        table.add_column(name, justify="right")
    shown = shown_run_names([row.name for row in rows])
    for row in rows:
        table.add_row(escape(shown[row.name]), *(_with_interval(row, n) for n in names))
    notes = ["[dim]mean (95% bootstrap interval over queries)[/]"]
    if report.get("unanswered"):
        notes.append(f"{report['unanswered']} judged queries not answered count as 0")
    overlap = [key for key in report if key.startswith("ann_recall@")]
    if overlap:
        notes.append(f"ANN recall@{report['k']} against exact search: {report[overlap[0]]:.4f}")
    table.caption = "; ".join(notes)
    return table


def shown_run_names(names: list[str]) -> dict[str, str]:
    """Run names for a table: a run file's path shortened to its file name, where the
    file names tell the runs apart (JSON keeps the paths as given)."""
    short = {name: name.replace("\\", "/").rsplit("/", 1)[-1] for name in names}
    return short if len(set(short.values())) == len(set(names)) else {n: n for n in names}


def _with_interval(row: Any, name: str) -> str:
    low, high = row.intervals.get(name, (row.measures[name],) * 2)
    return f"{100 * row.measures[name]:.2f} [dim]({100 * low:.1f}–{100 * high:.1f})[/]"


def comparison_table(comparisons: list[dict[str, Any]]) -> Table:
    """Paired differences ``b - a`` in points, with their interval and p-value."""
    names = list(comparisons[0]["measures"])
    table = Table(title="paired differences (b - a)", title_justify="left")
    table.add_column("b - a", style="bold", overflow="fold")
    for name in names:
        table.add_column(name, justify="right")
    shown = shown_run_names([name for c in comparisons for name in (c["a"], c["b"])])
    for c in comparisons:
        cells = []
        for name in names:
            d = c["measures"][name]
            mark = "[bold]*[/]" if d["p_value"] < 0.05 else " "
            low, high = d["interval"]
            cells.append(f"{100 * d['mean']:+.2f}{mark} [dim]({100 * low:+.1f}–{100 * high:+.1f}) "
                         f"p={d['p_value']:.3f}[/]")  # fmt: skip
        table.add_row(f"{escape(shown[c['b']])} - {escape(shown[c['a']])}", *cells)
    table.caption = (
        "[dim]points; (95% bootstrap interval); two-sided paired randomization test; * p < 0.05[/]"
    )
    return table


def dupes_table(groups: list[Any], threshold: float) -> Table | Text:
    """Near-duplicate groups: each member with its similarity to the representative."""
    if not groups:
        return Text(f"no near-duplicates at cosine >= {threshold}", style="dim")
    table = Table(title=f"{len(groups)} groups at cosine >= {threshold}", title_justify="left")
    table.add_column("group", justify="right", style="dim")
    table.add_column("member", style="cyan", overflow="fold")
    table.add_column("similarity", justify="right")
    for group in groups:
        for i, member in enumerate(group.members):
            name = escape(member.item)
            shown = f"[bold]{name}[/] [dim](representative)[/]" if i == 0 else name
            table.add_row(str(group.number) if i == 0 else "", shown, f"{member.similarity:.3f}",
                          end_section=i == len(group.members) - 1)  # fmt: skip
    return table


def predictions_table(predictions: list[Any]) -> Table | Text:
    """Classification results: each item's label and score, and the runner-up."""
    if not predictions:
        return Text("nothing to classify", style="dim")
    table = Table(title=f"{len(predictions)} classified", title_justify="left")
    table.add_column("item", style="cyan", overflow="fold")
    table.add_column("label", style="bold")
    table.add_column("score", justify="right")
    table.add_column("runner-up", style="dim")
    for p in predictions:
        second = f"{p.runner_up} ({p.runner_up_score:.3f})" if p.runner_up else ""
        table.add_row(escape(p.item), escape(p.label), f"{p.score:.3f}", escape(second))
    return table


def clusters_table(result: Any) -> Table:
    """A summary of a clustering: each cluster's size, label and most central documents."""
    table = Table(
        title=f"{len(result.clusters)} clusters ({result.method}, seed {result.seed})",
        title_justify="left",
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("size", justify="right")
    table.add_column("label", style="bold", overflow="fold")
    table.add_column("most central documents", style="cyan", overflow="fold")
    for c in result.clusters:
        table.add_row(str(c.number), str(c.size), escape(c.label), escape("\n".join(c.central[:3])))
    return table


def classification_table(report: dict[str, Any]) -> Table:
    """Accuracy and macro-F1 of a classification, with each label's F1."""
    table = Table(
        title=f"{report['items']} items: accuracy {100 * report['accuracy']:.2f}, "
        f"macro-F1 {100 * report['macro_f1']:.2f}",
        title_justify="left",
    )
    table.add_column("label", style="bold")
    table.add_column("F1", justify="right")
    for label, f1 in sorted(report["per_label_f1"].items()):
        table.add_row(escape(str(label)), f"{100 * f1:.2f}")
    if report.get("missing"):
        table.caption = f"{report['missing']} gold items without a prediction count as wrong"
    return table


def group_record(group: Any) -> dict[str, Any]:
    """A group of near-duplicates (``tasks.dupes.Group``) as JSON."""
    return {
        "group": group.number,
        "representative": group.representative,
        "members": [{"id": m.item, "similarity": round(m.similarity, 6)} for m in group.members],
        "pairs": [{"a": a, "b": b, "similarity": round(s, 6)} for a, b, s in group.pairs],
    }


def prediction_record(p: Any) -> dict[str, Any]:
    """A label prediction (``tasks.classify.Prediction``) as JSON."""
    second = None if p.runner_up_score is None else round(p.runner_up_score, 6)
    return {"item": p.item, "label": p.label, "score": round(p.score, 6),
            "runner_up": p.runner_up, "runner_up_score": second}  # fmt: skip


def clustering_record(result: Any) -> dict[str, Any]:
    """A clustering (``tasks.cluster.Clustering``) as JSON: clusters and assignments."""
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
