"""The MCP server (``tasksift mcp``): tasksift's commands as tools for an agent, on the
official ``mcp`` SDK, over stdio (or streamable HTTP when asked).

Every tool takes a ``task`` and runs on the served index built for it (``Catalog``): the
guard, said to an agent. A refusal, a bad argument or a failed search is a tool error with
the reason (``is_error``), and the server keeps running. Results are structured content:
the records ``--format json`` prints, with each hit's location.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from tasksift import __version__
from tasksift.errors import TasksiftError
from tasksift.options import DEFAULT_RERANK_MODEL, DocumentFilter
from tasksift.prompts import Task
from tasksift.queries import Query
from tasksift.serve.answer import SearchArgs, long_query_note, open_searcher
from tasksift.serve.catalog import Catalog, Generation, ServedIndex

INSTRUCTIONS = (
    "Semantic search over local documents. Each served index was built for one task "
    "(retrieval: search; similarity: similar, dupes; classification: classify; clustering: "
    "cluster); every tool takes that task and runs on the index built for it. Call indexes() "
    "to see what is served. Results name each document by its path in the corpus, with a "
    "location (path:LINE, a PDF page or a section)."
)

TaskName = Literal["retrieval", "similarity", "classification", "clustering"]
Globs = Annotated[
    list[str] | None,
    Field(description="Only documents whose corpus path matches one of these globs (* spans /)."),
]
Types = Annotated[
    list[str] | None, Field(description="Only documents with one of these extensions, e.g. md.")
]


@contextmanager
def tool_errors() -> Iterator[None]:
    """tasksift's own errors (refusals, bad input) as tool errors with their one line."""
    try:
        yield
    except TasksiftError as exc:
        raise ToolError(" ".join(str(exc).split())) from None


def _filter(paths: list[str] | None, types: list[str] | None) -> DocumentFilter | None:
    where = DocumentFilter(tuple(paths or ()), tuple(types or ()))
    return where or None


def _hit(hit: Any, terms: list[str]) -> dict[str, Any]:
    from tasksift.output.hits import hit_record, location

    return {"location": location(hit), **hit_record(hit, terms)}


class Tools:
    """The tools' work on a catalog; one call at a time (the models are shared)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()

    def _route(self, task: str) -> tuple[ServedIndex, Generation]:
        served = self.catalog.for_task(Task(task))
        return served, served.current()

    def search(self, query: str, task: str, k: int, mode: str | None, rerank: bool,
               paths: list[str] | None, types: list[str] | None, per_doc: int,
               explain: bool) -> dict[str, Any]:  # fmt: skip
        from tasksift.output.passages import query_terms

        if not query.strip():
            raise ToolError("the query is empty")
        with self._lock, tool_errors():
            served, live = self._route(task)
            args = SearchArgs(str(served.path), [("1", query, 1)], True, k,
                              task=task, mode=mode, explain=explain, paths=tuple(paths or ()),
                              types=tuple(types or ()), per_doc=per_doc,
                              rerank_model=DEFAULT_RERANK_MODEL if rerank else None)  # fmt: skip
            searcher = open_searcher(args, served.loaders(live))
            note = long_query_note(searcher, [Query("1", query, 1)])
            where = _filter(paths, types)
            hits = searcher.search([query], k, where=where, explain=explain, per_doc=per_doc)[0]
        terms = query_terms(query)
        return {"index": str(served.path), "task": task, "mode": searcher.mode.value,
                "query": query, "results": [_hit(h, terms) for h in hits],
                "notes": [*searcher.notes, *([note] if note else [])]}  # fmt: skip

    def similar(self, path: str | None, text: str | None, task: str, k: int,
                paths: list[str] | None, types: list[str] | None) -> dict[str, Any]:  # fmt: skip
        from tasksift.tasks.similar import document_vector, similar_documents
        from tasksift.vectors.encoding import Role, encode_with_prompt

        if (path is None) == (text is None) or (text is not None and not text.strip()):
            raise ToolError("give either path (a document of the index) or text, not both")
        with self._lock, tool_errors():
            served, live = self._route(task)
            if path is not None:
                vector = document_vector(live.index, path)
            else:
                embedder, _ = live.document_embedder()
                vector = encode_with_prompt(embedder, live.manifest.prompts, Role.DOCUMENT, [text])[
                    0
                ]
            hits = similar_documents(live.index, vector, k, path, _filter(paths, types))
        return {"index": str(served.path), "task": task, "of": path or text,
                "results": [_hit(h, []) for h in hits]}  # fmt: skip

    def classify(self, texts: list[str] | None, labels: dict[str, str] | None,
                 examples: list[tuple[str, str]] | None, method: str, neighbours: int,
                 task: str) -> dict[str, Any]:  # fmt: skip
        from tasksift.output.reports import prediction_record
        from tasksift.tasks.classify import LabelSpec, check_method, classify_index, classify_texts

        if not labels and not examples:
            raise ToolError("give labels ({label: description}, zero-shot) or examples "
                            "([[label, text], ...], few-shot)")  # fmt: skip
        with self._lock, tool_errors():
            check_method(method)
            served, live = self._route(task)
            specs = [LabelSpec(n, d) for n, d in labels.items()] if labels else None
            pairs = [(label, body) for label, body in examples] if examples else None
            embedder, _ = live.document_embedder()
            if texts is None:
                predictions = classify_index(live.index, embedder, specs, pairs, method,
                                             neighbours)  # fmt: skip
            else:
                predictions = classify_texts(live.index, embedder, texts, None, specs, pairs,
                                             method, neighbours)  # fmt: skip
        return {"index": str(served.path), "task": task,
                "predictions": [prediction_record(p) for p in predictions]}  # fmt: skip

    def dupes(self, threshold: float, chunks: bool, task: str) -> dict[str, Any]:
        from tasksift.output.reports import group_record
        from tasksift.tasks.dupes import duplicate_groups

        with self._lock, tool_errors():
            served, live = self._route(task)
            groups = duplicate_groups(live.index, threshold, chunks)
        return {"index": str(served.path), "task": task, "threshold": threshold,
                "groups": [group_record(g) for g in groups]}  # fmt: skip

    def cluster(self, n: int | None, auto: bool, seed: int, task: str) -> dict[str, Any]:
        from tasksift.output.reports import clustering_record
        from tasksift.tasks.cluster import cluster_documents

        if (n is None) == (not auto):
            raise ToolError("give either n (the number of clusters) or auto=true")
        with self._lock, tool_errors():
            served, live = self._route(task)
            result = cluster_documents(live.index, n=n, auto=auto, seed=seed)
        return {"index": str(served.path), "task": task, **clustering_record(result)}

    def indexes(self) -> dict[str, Any]:
        with self._lock, tool_errors():
            return {"indexes": [served.describe() for served in self.catalog.indexes]}


def build_server(catalog: Catalog) -> MCPServer:
    """An MCP server whose tools run on ``catalog``."""
    server = MCPServer(
        name="tasksift", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    tools = Tools(catalog)

    @server.tool()
    def search(
        query: Annotated[str, Field(description="What to search for, in plain words.")],
        task: Annotated[
            TaskName, Field(description="The index to search: the one built for this task.")
        ] = "retrieval",  # fmt: skip
        k: Annotated[int, Field(ge=1, le=1000, description="Results to return.")] = 10,
        mode: Annotated[
            Literal["hybrid", "dense", "lexical"] | None,
            Field(description="hybrid (default): dense and BM25 fused; or one of them."),
        ] = None,
        rerank: Annotated[
            bool, Field(description="Rescore the best chunks with a cross-encoder (slower).")
        ] = False,
        paths: Globs = None,
        types: Types = None,
        per_doc: Annotated[
            int, Field(ge=1, le=20, description="Best chunks shown per document.")
        ] = 1,
        explain: Annotated[
            bool,
            Field(
                description="Each hit's dense and lexical ranks and scores, the fused "
                "score and the query words that matched."
            ),  # fmt: skip
        ] = True,
    ) -> dict[str, Any]:
        """Search the documents: the best documents for the query, each with its path,
        location (path:LINE, page or section), best passage and scores."""
        return tools.search(query, task, k, mode, rerank, paths, types, per_doc, explain)

    @server.tool()
    def similar(
        path: Annotated[
            str | None, Field(description="A document of the index, by its corpus path.")
        ] = None,
        text: Annotated[str | None, Field(description="A text instead of a document.")] = None,
        task: TaskName = "similarity",
        k: Annotated[int, Field(ge=1, le=1000, description="Documents to return.")] = 10,
        paths: Globs = None,
        types: Types = None,
    ) -> dict[str, Any]:
        """Documents most similar to a document of the index, or to a text."""
        return tools.similar(path, text, task, k, paths, types)

    @server.tool()
    def classify(
        labels: Annotated[
            dict[str, str] | None,
            Field(description="Zero-shot: each label with a description of what it means."),
        ] = None,
        examples: Annotated[
            list[tuple[str, str]] | None,
            Field(description="Few-shot: labelled examples, each [label, text]."),
        ] = None,
        texts: Annotated[
            list[str] | None,
            Field(description="Texts to label; default: every document of the index."),
        ] = None,
        method: Annotated[
            Literal["centroid", "knn"], Field(description="Few-shot vote.")
        ] = "centroid",
        neighbours: Annotated[int, Field(ge=1, description="Examples that vote (knn).")] = 5,
        task: TaskName = "classification",
    ) -> dict[str, Any]:
        """Label texts (or every document) from labels or labelled examples: each with its
        label, score and runner-up."""
        return tools.classify(texts, labels, examples, method, neighbours, task)

    @server.tool()
    def dupes(
        threshold: Annotated[
            float, Field(ge=0.0, le=1.0, description="Cosine from which two documents count.")
        ] = 0.9,
        chunks: Annotated[bool, Field(description="Repeated passages instead.")] = False,
        task: TaskName = "similarity",
    ) -> dict[str, Any]:
        """Groups of near-duplicate documents (or passages), each with a representative."""
        return tools.dupes(threshold, chunks, task)

    @server.tool()
    def cluster(
        n: Annotated[int | None, Field(ge=2, description="Number of clusters.")] = None,
        auto: Annotated[bool, Field(description="Choose the number (best silhouette).")] = False,
        seed: Annotated[int, Field(description="The same seed, the same clusters.")] = 0,
        task: TaskName = "clustering",
    ) -> dict[str, Any]:
        """Group the documents into clusters, each with its size, central documents and a
        label, and each document's cluster."""
        return tools.cluster(n, auto, seed, task)

    @server.tool()
    def indexes() -> dict[str, Any]:
        """What is served: each index with its corpus, task, model, prompts, counts and
        freshness (its generation, when it was built and loaded)."""
        return tools.indexes()

    return server
