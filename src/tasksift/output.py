"""Output: search results and index metadata as rich tables, JSON, JSON Lines or TSV.

Data goes to stdout; messages go to stderr (see ``cli``). Nothing here searches or loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tasksift.options import OutputFormat
from tasksift.prompts import FROM_MODEL_CONFIG, describe_profiles

if TYPE_CHECKING:
    from tasksift.index.manifest import Manifest
    from tasksift.search.hits import Hit

SNIPPET_CHARS = 240
_WORD = re.compile(r"\w{3,}")
_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "was",
        "were",
        "with",
        "that",
        "this",
        "from",
        "what",
        "which",
        "how",
        "does",
        "why",
        "who",
        "when",
        "where",
        "can",
        "could",
        "should",
        "would",
        "will",
        "into",
        "onto",
        "about",
        "your",
        "you",
        "our",
        "their",
        "there",
        "them",
        "then",
        "than",
    ]
)


def choose_format(requested: OutputFormat | None, stdout_is_terminal: bool) -> OutputFormat:
    """The requested format, else a table on a terminal and JSON Lines elsewhere."""
    if requested is not None:
        return requested
    return OutputFormat.TABLE if stdout_is_terminal else OutputFormat.JSONL


def query_terms(query: str) -> list[str]:
    """Words of the query worth highlighting in snippets."""
    return [w for w in _WORD.findall(query.lower()) if w not in _STOPWORDS]


_PIECE = re.compile(r"[^\n.!?]*(?:[.!?]+|\n|$)")


def best_passage_start(text: str, terms: list[str]) -> int:
    """Offset of the sentence or line of ``text`` that holds the most query terms (the
    first one on ties; 0 when none holds any). A word holds a term when it is the term or
    shares its stem-like prefix of up to 5 letters, 4 at least (erosion, eroding)."""
    wanted = [(term, min(len(term), 5)) for term in set(terms)]
    best, best_count = 0, 0
    for piece in _PIECE.finditer(text):
        words = set(_WORD.findall(piece.group().lower()))
        heads = {n: {w[:n] for w in words if len(w) >= n} for n in (4, 5)}
        count = sum(t in words or (n >= 4 and t[:n] in heads[n]) for t, n in wanted)
        if count > best_count:
            best, best_count = piece.start(), count
    return best


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """A one-line window of ``text`` of about ``width`` characters that starts at its
    best-matching sentence or line (see ``best_passage_start``)."""
    start = best_passage_start(text, terms)
    before, after = " ".join(text[:start].split()), " ".join(text[start:].split())
    if len(before) + len(after) + 1 <= width:
        return f"{before} {after}".strip()
    if len(after) < width:  # near the end: show the end of the chunk
        flat = f"{before} {after}".strip()
        window = flat[len(flat) - width :]
        return "… " + window[window.find(" ") + 1 :]
    window = after[:width].rsplit(" ", 1)[0]
    return ("… " if before else "") + window + " …"


def location(hit: Hit) -> str:
    """Where a hit is, for a person and an editor: ``path:LINE``, ``file.pdf p.12``, or
    character offsets when nothing better is known."""
    if hit.line_start is not None:
        return f"{hit.path}:{hit.line_start}"
    if hit.page is not None:
        return f"{hit.path} p.{hit.page}"
    return f"{hit.path} chars {hit.start}-{hit.end}"


def hit_record(hit: Hit, terms: list[str] | None = None) -> dict[str, Any]:
    """A hit as JSON; ``passage`` is the best-matching part of the chunk for the query's
    ``terms`` (see ``snippet``), ``snippet`` the chunk's whole text."""
    record = {
        "rank": hit.rank,
        "doc_id": hit.doc_id,
        "path": hit.path,
        "score": round(hit.score, 6),
        "chunk": hit.ordinal,
        "start": hit.start,
        "end": hit.end,
        "line_start": hit.line_start,
        "line_end": hit.line_end,
        "page": hit.page,
        "section": hit.section,
        "passage": snippet(hit.text, terms or []),
        "snippet": hit.text,
    }
    if hit.rerank_score is not None:
        record["rerank_score"] = round(hit.rerank_score, 6)
    if hit.explanation is not None:
        record["explain"] = explain_record(hit)
    return record


def explain_record(hit: Hit) -> dict[str, Any]:
    """The explanation of a hit as JSON: each side's rank and score, fused, matched words."""
    why = hit.explanation

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 6)

    return {
        "dense_rank": why.dense_rank,
        "dense_score": rounded(why.dense_score),
        "lexical_rank": why.lexical_rank,
        "lexical_score": rounded(why.lexical_score),
        "fused_score": rounded(why.fused_score),
        "rerank_score": rounded(hit.rerank_score),
        "first_stage_rank": why.first_stage_rank,
        "matched_terms": list(why.matched_terms),
    }


def _why(hit: Hit) -> str:
    """The explanation column of the table: where each retriever ranked the hit."""
    why = hit.explanation
    lines = []
    for side, rank, score, digits in (
        ("dense", why.dense_rank, why.dense_score, 3),
        ("lexical", why.lexical_rank, why.lexical_score, 2),
    ):
        if score is None:
            continue
        if side == "lexical" and score == 0:
            lines.append("lexical [dim]no match[/]")
        else:
            place = f"#{rank}" if rank is not None else "[dim]not in top[/]"
            lines.append(f"{side} {place} [dim]{score:.{digits}f}[/]")
    if why.fused_score is not None:
        lines.append(f"fused [bold]{why.fused_score:.3f}[/]")
    if hit.rerank_score is not None:
        was = f" [dim]was #{why.first_stage_rank}[/]" if why.first_stage_rank else ""
        lines.append(f"rerank [bold]{hit.rerank_score:.3f}[/]{was}")
    if why.matched_terms:
        lines.append("[dim]matched:[/] " + escape(", ".join(why.matched_terms)))
    return "\n".join(lines)


def write_hits(
    out: IO[str], console: Console, query: str, hits: list[Hit], fmt: OutputFormat
) -> None:
    terms = query_terms(query)
    if fmt is OutputFormat.TABLE:
        console.print(hits_table(query, hits))
    elif fmt is OutputFormat.JSON:
        out.write(
            json.dumps(
                {"query": query, "results": [hit_record(h, terms) for h in hits]},
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    elif fmt is OutputFormat.JSONL:
        for hit in hits:
            out.write(json.dumps(hit_record(hit, terms), ensure_ascii=False) + "\n")
    elif fmt is OutputFormat.TREC:
        write_batch(out, console, [("1", query, hits)], fmt)
    else:
        for hit in hits:
            fields = [hit.rank, hit.doc_id, f"{hit.score:.6f}", hit.start, hit.end]
            if hit.rerank_score is not None:
                fields.append(f"{hit.rerank_score:.6f}")
            out.write(_tsv([*fields, *_location_fields(hit)]))


def _location_fields(hit: Hit) -> list[object]:
    """The TSV columns that follow the original ones: lines, page, section."""
    section = None if hit.section is None else " ".join(hit.section.split())
    return [hit.line_start, hit.line_end, hit.page, section]


def _tsv(fields: list[object]) -> str:
    return "\t".join("" if f is None else str(f) for f in fields) + "\n"


def final_score(hit: Hit) -> float:
    """The score a hit is ranked by: the reranker's when there is one."""
    return hit.rerank_score if hit.rerank_score is not None else hit.score


def trec_docid(doc_id: str) -> str:
    """TREC run files are whitespace-separated: escape whitespace in ids."""
    return quote(doc_id, safe="/:@!$&'()*+,;=-._~") if any(c.isspace() for c in doc_id) else doc_id


def _query_record(qid: str, query: str, hits: list[Hit]) -> dict[str, Any]:
    terms = query_terms(query)
    return {"id": qid, "query": query, "results": [hit_record(h, terms) for h in hits]}


def write_batch(
    out: IO[str], console: Console, results: list[tuple[str, str, list[Hit]]], fmt: OutputFormat
) -> None:
    """Results of several queries, given as (query id, query text, hits)."""
    for qid, query, hits in results:
        if fmt is OutputFormat.TABLE:
            console.print(hits_table(f"{qid}: {query}", hits))
        elif fmt is OutputFormat.JSON:
            out.write(json.dumps(_query_record(qid, query, hits), ensure_ascii=False, indent=2))
            out.write("\n")
        elif fmt is OutputFormat.JSONL:
            out.write(json.dumps(_query_record(qid, query, hits), ensure_ascii=False) + "\n")
        elif fmt is OutputFormat.TSV:
            for hit in hits:
                fields = [qid, hit.rank, hit.doc_id, f"{final_score(hit):.6f}"]
                out.write(_tsv([*fields, *_location_fields(hit)]))
        else:
            for hit in hits:
                docid = trec_docid(hit.doc_id)
                out.write(f"{qid} Q0 {docid} {hit.rank} {final_score(hit):.6f} tasksift\n")


def hits_table(query: str, hits: list[Hit]) -> Table | Text:
    if not hits:
        return Text("no results", style="dim")
    terms = query_terms(query)
    reranked = any(h.rerank_score is not None for h in hits)
    explained = any(h.explanation is not None for h in hits)
    table = Table(title=f"[bold]{query}[/]", title_justify="left", show_lines=True, expand=True)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    if reranked:
        table.add_column("rerank", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("document", style="cyan", overflow="fold", ratio=2)
    if explained:
        table.add_column("why", ratio=2)
    table.add_column("snippet", ratio=3)
    for hit in hits:
        words = list(hit.explanation.matched_words) if explained and hit.explanation else terms
        text = Text(snippet(hit.text, [w.lower() for w in words]))
        if explained:
            text.highlight_regex(_whole_words(words), style="bold yellow")
        else:
            text.highlight_words(terms, style="bold yellow", case_sensitive=False)
        cells: list[Any] = [str(hit.rank)]
        if reranked:
            cells.append(f"{hit.rerank_score:.3f}")
        where = escape(location(hit))
        if hit.doc_id != hit.path:  # a JSON Lines corpus: the id says more than the file
            where = f"{escape(hit.doc_id)}\n[dim]{where}[/]"
        if hit.section:
            where += f"\n[dim]§ {escape(hit.section)}[/]"
        cells += [f"{hit.score:.3f}", where]
        if explained:
            cells.append(_why(hit) if hit.explanation else "")
        table.add_row(*cells, text)
    return table


def _whole_words(words: list[str]) -> str:
    """A regex matching any of ``words`` as a whole word (never matches when empty)."""
    if not words:
        return r"(?!x)x"
    return r"(?i)\b(?:" + "|".join(re.escape(w) for w in words) + r")\b"


def manifest_record(manifest: Manifest, index_path: str, sizes: dict[str, int]) -> dict[str, Any]:
    record = json.loads(manifest.to_json())
    record["index_path"] = index_path
    record["files"] = sizes
    return record


def info_table(record: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    if not record.get("complete", True):
        table.add_row(
            "status",
            "[yellow]incomplete[/]: a run was interrupted; rerun `tasksift index` to finish",
        )
    for key, value in _flatten(record):
        table.add_row(
            key, repr(value) if isinstance(value, str) and "prompt" in key else str(value)
        )
    return table


def _flatten(record: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def models_table() -> Table:
    table = Table(show_lines=False, expand=True)
    table.add_column("profile", no_wrap=True, style="bold")
    table.add_column("models", overflow="fold", ratio=2)
    table.add_column("task", no_wrap=True)
    table.add_column("query prompt", overflow="fold", ratio=2)
    table.add_column("document prompt", overflow="fold", ratio=2)
    previous = None
    for name, description, patterns, task, prompts in describe_profiles():
        first = name != previous
        previous = name
        query = _describe_side(prompts.query, prompts.query_adapter)
        document = _describe_side(prompts.document, prompts.document_adapter)
        table.add_row(
            name if first else "",
            f"{description}\n[dim]{patterns}[/]" if first else "",
            task.value,
            query,
            document,
            end_section=task is list(type(task))[-1],
        )
    return table


def models_records() -> list[dict[str, Any]]:
    """Profiles as JSON rows; a prompt left to the model's config is null."""
    return [
        {
            "profile": name,
            "description": description,
            "patterns": patterns,
            "task": task.value,
            **{
                f"prompts.{key}": None if value == FROM_MODEL_CONFIG else value
                for key, value in asdict(prompts).items()
            },
        }
        for name, description, patterns, task, prompts in describe_profiles()
    ]


def _describe_side(prompt: str, adapter: str | None) -> str:
    if prompt == FROM_MODEL_CONFIG:
        shown = f"[dim]{escape(prompt)}[/]"
    else:
        shown = escape(repr(prompt)) if prompt else "[dim](none)[/]"
    return f"{shown}\n[dim]adapter: {adapter}[/]" if adapter else shown


def eval_table(rows: list[Any], report: dict[str, Any]) -> Table:
    """Evaluation rows (one per run) as percentages with their 95% intervals, and the
    ANN-vs-exact overlap."""
    names = list(rows[0].measures)
    table = Table(title=f"{report['queries']} judged queries", title_justify="left")
    table.add_column("run", style="bold")
    for name in names:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(row.name, *(_with_interval(row, n) for n in names))
    notes = ["[dim]mean (95% bootstrap interval over queries)[/]"]
    if report.get("unanswered"):
        notes.append(f"{report['unanswered']} judged queries not answered count as 0")
    overlap = [key for key in report if key.startswith("ann_recall@")]
    if overlap:
        notes.append(f"ANN recall@{report['k']} against exact search: {report[overlap[0]]:.4f}")
    table.caption = "; ".join(notes)
    return table


def _with_interval(row: Any, name: str) -> str:
    low, high = row.intervals.get(name, (row.measures[name],) * 2)
    return f"{100 * row.measures[name]:.2f} [dim]({100 * low:.1f}–{100 * high:.1f})[/]"


def comparison_table(comparisons: list[Any]) -> Table:
    """Paired differences ``b - a`` in points, with their interval and p-value."""
    names = list(comparisons[0].differences)
    table = Table(title="paired differences (b - a)", title_justify="left")
    table.add_column("b - a", style="bold")
    for name in names:
        table.add_column(name, justify="right")
    for c in comparisons:
        cells = []
        for name in names:
            d = c.differences[name]
            mark = "[bold]*[/]" if d.p_value < 0.05 else " "
            low, high = d.interval
            cells.append(
                f"{100 * d.mean:+.2f}{mark} [dim]({100 * low:+.1f}–{100 * high:+.1f}) "
                f"p={d.p_value:.3f}[/]"
            )
        table.add_row(f"{escape(c.b)} - {escape(c.a)}", *cells)
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
