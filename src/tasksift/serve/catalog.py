"""The served indexes: each kept loaded (graph, lexical side, query model), routed to by
task, and reloaded when its ``CURRENT`` names a new generation.

Only the indexes named at start are served. A request reads ``CURRENT`` (one small file);
when a writer (``tasksift index``, or the watcher) has swapped in a new generation, the
new one is loaded and warmed while requests keep the old one, then replaces it in one
assignment.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasksift.chunks import untruncated
from tasksift.errors import MismatchError, TasksiftError
from tasksift.index.location import CURRENT_FILE
from tasksift.options import SearchRequest
from tasksift.prompts import Task
from tasksift.search.searcher import Loaders

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from tasksift.index.manifest import Manifest
    from tasksift.index.reader import LoadedIndex
    from tasksift.rerank.reranker import Reranker
    from tasksift.vectors.embedder import Embedder


@dataclass
class Generation:
    """One generation of a served index, loaded: manifest, index (with its lexical side when
    it has one) and, once asked for, the query model."""

    name: str
    index: LoadedIndex
    loaded_at: float
    embedder: tuple[Embedder, str | None] | None = None
    counter: Tokenizer | None = None  # the query model's tokenizer, untruncated
    documents: tuple[Embedder, str | None] | None = None  # encodes texts as documents

    def document_embedder(self) -> tuple[Embedder, str | None]:
        """The model that encodes given texts as this index's documents (task commands)."""
        if self.documents is None:
            from tasksift.onnx.embedder import open_index_embedder
            from tasksift.vectors.encoding import Role

            self.documents = open_index_embedder(self.index.path, self.manifest, Role.DOCUMENT)
        return self.documents

    @property
    def manifest(self) -> Manifest:
        return self.index.manifest


def live_name(index_dir: Path) -> str:
    try:
        return (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def load_generation(index_dir: Path) -> Generation:
    from tasksift.index.reader import load_index, read_manifest

    name = live_name(index_dir)  # read first: a newer one loaded is noticed next time
    manifest = read_manifest(index_dir)
    index = load_index(index_dir, manifest, lexical=manifest.has_lexical)
    return Generation(name, index, time.time())


@dataclass
class ServedIndex:
    """An index named at start, its live generation kept loaded."""

    path: Path  # absolute
    rerankers: dict[str, tuple[Reranker, str | None]]
    live: Generation | None = None
    _reload: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> Generation:
        """The live generation, loaded (and warmed) again when ``CURRENT`` changed."""
        live = self.live
        if live is not None and live.name == live_name(self.path):
            return live
        with self._reload:  # one reload at a time; others wait for it, then reuse it
            if self.live is None or self.live.name != live_name(self.path):
                fresh = load_generation(self.path)
                self._warm(fresh)
                self.live = fresh
            return self.live

    def _warm(self, generation: Generation) -> None:
        """Load the query model and touch the graph and columns a search reads."""
        from tasksift.search.searcher import Searcher

        try:
            searcher = Searcher.open(self.path, SearchRequest(), loaders=self.loaders(generation))
            searcher.search(["warm up"], 1)
        except TasksiftError:
            pass  # the same error reaches the first request that needs it

    def loaders(self, generation: Generation) -> Loaders:
        """``Searcher.open``'s parts from ``generation``, kept between requests."""

        def embedder(_: Path, manifest: Manifest) -> tuple[Embedder, str | None]:
            if generation.embedder is None:
                from tasksift.onnx.embedder import open_index_embedder

                generation.embedder = open_index_embedder(self.path, manifest)
            return generation.embedder

        def reranker(name: str) -> tuple[Reranker, str | None]:
            if name not in self.rerankers:
                from tasksift.rerank.loading import open_reranker

                self.rerankers[name] = open_reranker(name)
            return self.rerankers[name]

        def counter(tokenizer: Tokenizer) -> Tokenizer:
            if generation.counter is None:
                generation.counter = untruncated(tokenizer)
            return generation.counter

        return Loaders(
            counter=counter,
            manifest=lambda _: generation.manifest,
            index=lambda _path, _manifest, _lexical: generation.index,
            embedder=embedder,
            reranker=reranker,
        )

    def describe(self) -> dict[str, Any]:
        """What ``indexes`` shows: corpus, model, task, prompts, counts and freshness."""
        live = self.current()
        m = live.manifest
        return {
            "index": str(self.path),
            "corpus": m.corpus_root,
            "task": m.task.value,
            "model": m.model.name,
            "prompts": {"query": m.prompts.query, "document": m.prompts.document},
            "documents": m.documents,
            "chunks": m.chunks,
            "lexical": m.has_lexical,
            "generation": live.name,
            "built_at": m.created_at,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(live.loaded_at)),
        }


@dataclass
class Catalog:
    """The indexes served, in the order named."""

    indexes: list[ServedIndex]

    @classmethod
    def open(cls, paths: list[Path]) -> Catalog:
        """Load and warm every index; a missing or broken one fails the start."""
        rerankers: dict[str, tuple[Reranker, str | None]] = {}
        served = [ServedIndex(p.resolve(), rerankers) for p in dict.fromkeys(paths)]
        for index in served:
            index.current()
        return cls(served)

    def at(self, location: Path) -> ServedIndex | None:
        """The served index at ``location`` (absolute), if it is one."""
        return next((i for i in self.indexes if i.path == location), None)

    def for_task(self, task: Task) -> ServedIndex:
        """The served index built for ``task``; a refusal names what is served and how to
        serve ``task`` (never another task's vectors: an agent cannot say --any-task)."""
        for index in self.indexes:
            if index.current().manifest.task is task:
                return index
        raise MismatchError(self.refusal(task))

    def refusal(self, task: Task) -> str:
        served = ", ".join(f"{i.current().manifest.task.value} ({i.path})" for i in self.indexes)
        corpus = self.indexes[0].current().manifest.corpus_root
        return (
            f"no served index was built for task '{task.value}'; served: {served}. Build one "
            f"with `tasksift index {corpus} --task {task.value} --index NEW_INDEX` and serve it "
            "too (--index NEW_INDEX)"
        )
