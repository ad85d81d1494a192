"""A search request answered into text: the one code path of ``tasksift search``, in its
own process, in a service that runs a forwarded command line, and in the MCP server.

``SearchArgs`` is a search as the command line parsed it; ``open_searcher`` opens its
index (fresh, or through a service's warm ``Loaders``: ``warm``); ``answer`` notes
over-long queries, searches and writes the results in the requested format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tasksift.errors import NoHitsError
from tasksift.options import DocumentFilter, FusionMethod, OutputFormat, SearchMode, SearchRequest
from tasksift.prompts import Task
from tasksift.queries import Query

if TYPE_CHECKING:
    from rich.console import Console

    from tasksift.search.hits import Hit
    from tasksift.search.searcher import Loaders, Searcher


@dataclass(frozen=True)
class SearchArgs:
    """A search as the command line parsed it: one query (``single``) or a batch of
    ``queries`` given as (id, text, line); enums as their values. ``index`` is the index
    folder as the caller named it (messages show it)."""

    index: str
    queries: list[tuple[str, str, int]]
    single: bool
    k: int = 10
    fmt: str = "jsonl"
    task: str | None = None
    model: str | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None
    instruction: str | None = None
    chunks: bool = False
    per_doc: int = 1
    paths: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    mode: str | None = None
    explain: bool = False
    fusion: str = "adaptive"
    alpha: float = 0.7
    fusion_depth: int = 100
    rerank_model: str | None = None  # None: no reranking
    candidates: int = 50
    min_relevance: float | None = None  # keep only hits whose relevance reaches it
    adapter: str | None = None  # a LoRA adapter folder; must be the index's


class Declined(Exception):
    """A service cannot answer this search warm (another index): the caller runs it."""


_warm: ContextVar[Callable[[Path], Loaders] | None] = ContextVar("warm", default=None)


@contextmanager
def warm(lookup: Callable[[Path], Loaders]) -> Iterator[None]:
    """Open indexes through ``lookup`` (an index folder -> its warm loaders; raises
    ``Declined`` for one it does not serve) while in this block."""
    token = _warm.set(lookup)
    try:
        yield
    finally:
        _warm.reset(token)


def open_searcher(args: SearchArgs, loaders: Loaders | None = None) -> Searcher:
    """The index of ``args`` opened for its mode, fusion and reranker (guard first): from
    ``loaders``, or a service's warm ones (``warm``), or fresh."""
    from tasksift.search.fusion import Fusion
    from tasksift.search.searcher import Searcher

    lookup = _warm.get()
    if loaders is None and lookup is not None:
        loaders = lookup(Path(args.index))

    request = SearchRequest(
        Task(args.task) if args.task else None,
        args.model,
        args.query_prompt,
        args.document_prompt,
        args.instruction,
        args.adapter,
    )
    return Searcher.open(
        Path(args.index),
        request,
        mode=SearchMode(args.mode) if args.mode else None,
        fusion=Fusion(FusionMethod(args.fusion), args.alpha, args.fusion_depth),
        rerank_model=args.rerank_model,
        candidates=args.candidates,
        explain=args.explain,
        loaders=loaders,
    )


def long_query_note(searcher: Searcher, queries: list[Query]) -> str | None:
    """One note for the queries the dense side reads only the start of; all are answered."""
    long = [(q, n) for q in queries if (n := searcher.overlong(q.text)) is not None]
    if not long:
        return None
    limit = searcher.manifest.model.max_seq_length
    lines = ", ".join(str(q.line) for q, _ in long[:5]) + (" ..." if len(long) > 5 else "")
    if len(queries) == 1:
        where = f"the query is {long[0][1]} tokens, longer"
    elif len(long) == 1:
        where = f"1 query (line {lines}) is longer"
    else:
        where = f"{len(long)} queries (lines {lines}) are longer"
    lexical = "; the lexical side reads all of it" if searcher.index.lexical else ""
    return (
        f"{where} than the {limit} the model reads: the dense side uses the first {limit}{lexical}"
    )


def answer(
    searcher: Searcher,
    args: SearchArgs,
    out: IO[str],
    console: Console,
    note: Callable[[str], None],
) -> None:
    """Search the queries of ``args`` and write their results to ``out`` (tables through
    ``console``); notes go to ``note``."""
    from tasksift.output.emit import emit
    from tasksift.output.hits import batch_output, hits_output

    queries = [Query(*q) for q in args.queries]
    message = long_query_note(searcher, queries)
    if message:
        note(message)
    texts = [q.text for q in queries]
    where = DocumentFilter(args.paths, args.types)
    results = (
        searcher.search(
            texts, args.k, args.chunks, where=where, explain=args.explain, per_doc=args.per_doc
        )
        if texts
        else []
    )
    results = relevant(results, args.min_relevance)
    fmt = OutputFormat(args.fmt)
    if args.single:
        emit(hits_output(texts[0], results[0]), fmt, out, console)
    else:
        triples = [(q.qid, q.text, hits) for q, hits in zip(queries, results, strict=True)]
        emit(batch_output(triples), fmt, out, console)
    if args.min_relevance is not None and texts and not any(results):
        raise NoHitsError(f"no hit reaches relevance {args.min_relevance:g}")


def relevant(results: list[list[Hit]], floor: float | None) -> list[list[Hit]]:
    """Each query's hits whose relevance reaches ``floor`` (all of them without one)."""
    if floor is None:
        return results
    return [[h for h in hits if (h.relevance or 0.0) >= floor] for hits in results]
