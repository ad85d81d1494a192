"""Search hits (``search``, ``similar``) in every format: records, table, TSV and TREC rows."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tasksift.output.emit import Output, Rows
from tasksift.output.passages import query_terms, snippet

if TYPE_CHECKING:
    from tasksift.search.hits import Hit

Results = list[tuple[str, str, list["Hit"]]]  # (query id, query text, hits) per query


def hits_output(query: str, hits: list[Hit]) -> Output:
    """One query's hits."""
    terms = query_terms(query)
    return Output(
        table=lambda: [hits_table(query, hits)],
        json=lambda: [{"query": query, "results": [hit_record(h, terms) for h in hits]}],
        jsonl=lambda: (hit_record(h, terms) for h in hits),
        tsv=lambda: (_hit_fields(h) for h in hits),
        trec=lambda: _trec_rows([("1", query, hits)]),
    )


def batch_output(results: Results) -> Output:
    """The hits of several queries, given as (query id, query text, hits)."""
    return Output(
        table=lambda: (hits_table(f"{qid}: {query}", hits) for qid, query, hits in results),
        json=lambda: (_query_record(*each) for each in results),
        jsonl=lambda: (_query_record(*each) for each in results),
        tsv=lambda: (
            [qid, h.rank, h.doc_id, f"{final_score(h):.6f}", *_location_fields(h)]
            for qid, _, hits in results
            for h in hits
        ),
        trec=lambda: _trec_rows(results),
    )


def _hit_fields(hit: Hit) -> list[object]:
    """A TSV row of one query's hit: rank, id, score, offsets, [rerank score,] location."""
    fields: list[object] = [hit.rank, hit.doc_id, f"{hit.score:.6f}", hit.start, hit.end]
    if hit.rerank_score is not None:
        fields.append(f"{hit.rerank_score:.6f}")
    return [*fields, *_location_fields(hit)]


def _trec_rows(results: Results) -> Rows:
    for qid, _, hits in results:
        for hit in hits:
            yield [qid, "Q0", trec_docid(hit.doc_id), hit.rank, f"{final_score(hit):.6f}",
                   "tasksift"]  # fmt: skip


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
        "relevance": None if hit.relevance is None else round(hit.relevance, 4),
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
        "fusion_weight": rounded(why.fusion_weight),
        "weight_reason": why.weight_reason,
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
    if why.fusion_weight is not None:
        kind = "adaptive" if (why.weight_reason or "").startswith("adaptive") else "fixed"
        lines.append(f"dense weight {why.fusion_weight:.2f} [dim]({kind})[/]")
    if hit.rerank_score is not None:
        was = f" [dim]was #{why.first_stage_rank}[/]" if why.first_stage_rank else ""
        lines.append(f"rerank [bold]{hit.rerank_score:.3f}[/]{was}")
    if why.matched_terms:
        lines.append("[dim]matched:[/] " + escape(", ".join(why.matched_terms)))
    return "\n".join(lines)


def _location_fields(hit: Hit) -> list[object]:
    """The TSV columns that follow the original ones: lines, page, section."""
    section = None if hit.section is None else " ".join(hit.section.split())
    return [hit.line_start, hit.line_end, hit.page, section]


def final_score(hit: Hit) -> float:
    """The score a hit is ranked by: the reranker's when there is one."""
    return hit.rerank_score if hit.rerank_score is not None else hit.score


def trec_docid(doc_id: str) -> str:
    """TREC run files are whitespace-separated: an id with whitespace is percent-encoded,
    and so is one with ``%``, so that ``queries.read_run`` can decode every id it reads."""
    encode = "%" in doc_id or any(c.isspace() for c in doc_id)
    return quote(doc_id, safe="/:@!$&'()*+,;=-._~") if encode else doc_id


def _query_record(qid: str, query: str, hits: list[Hit]) -> dict[str, Any]:
    terms = query_terms(query)
    return {"id": qid, "query": query, "results": [hit_record(h, terms) for h in hits]}


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
    table.add_column("rel", justify="right", no_wrap=True)
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
        relevance = "" if hit.relevance is None else f"{hit.relevance:.2f}"
        cells += [f"{hit.score:.3f}", relevance, where]
        if explained:
            cells.append(_why(hit) if hit.explanation else "")
        table.add_row(*cells, text)
    return table


def _whole_words(words: list[str]) -> str:
    """A regex matching any of ``words`` as a whole word (never matches when empty)."""
    if not words:
        return r"(?!x)x"
    return r"(?i)\b(?:" + "|".join(re.escape(w) for w in words) + r")\b"
