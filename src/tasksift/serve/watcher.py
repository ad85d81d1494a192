"""The index follows its folder: file changes (watchfiles), batched over a short quiet
period, re-index through ``build_index``, the path of ``tasksift index`` (its lock,
generations and checkpoints); the served index then loads the new generation.

Searches keep answering from the previous generation while an update runs. A hand-run
``tasksift index`` holds the lock: the watcher waits for it and takes its generation up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from tasksift.errors import IndexLockedError, TasksiftError
from tasksift.serve.catalog import Catalog, ServedIndex

QUIET_MS = 300  # changes are batched until the folder is quiet this long
MOST_MS = 2000  # ... or for this long at most
LOCKED_RETRY_SECONDS = 1.0


def _import_the_model_library() -> None:
    """Import sentence-transformers (and torch) ahead of the first change, which then costs
    the update alone: seconds less on a saved file's way to the results."""
    import sentence_transformers  # noqa: F401


class Watcher:
    """One thread per served index, re-indexing it when its corpus changes; updates run one
    at a time (several indexes of one corpus are the expected case)."""

    def __init__(
        self, catalog: Catalog, log: Callable[[str], None], trust_remote_code: bool = False
    ) -> None:
        self.catalog = catalog
        self.log = log
        self.trust_remote_code = trust_remote_code
        self._stop = threading.Event()
        self._updating = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        threading.Thread(target=_import_the_model_library, daemon=True).start()
        for served in self.catalog.indexes:
            thread = threading.Thread(target=self._follow, args=(served,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop watching; an update under way finishes first (it is crash-safe anyway)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _follow(self, served: ServedIndex) -> None:
        from watchfiles import DefaultFilter, watch

        corpus = Path(served.current().manifest.corpus_root)
        ignore = DefaultFilter(ignore_paths=[str(served.path)])  # an index inside its corpus
        changes = watch(corpus, watch_filter=ignore, debounce=MOST_MS, step=QUIET_MS,
                        stop_event=self._stop, raise_interrupt=False)  # fmt: skip
        for _ in changes:
            self.update(served, corpus)

    def update(self, served: ServedIndex, corpus: Path) -> None:
        """Bring ``served`` up to date with ``corpus``, then switch to its new generation."""
        from tasksift.pipeline import IndexOptions, build_index

        options = IndexOptions(trust_remote_code=self.trust_remote_code)
        with self._updating:
            while not self._stop.is_set():
                try:
                    s = build_index(corpus, served.path, options)
                except IndexLockedError:  # a hand-run `tasksift index`: wait for it
                    time.sleep(LOCKED_RETRY_SECONDS)
                    continue
                except TasksiftError as exc:
                    self.log(f"not re-indexed {served.path}: {exc}")
                    break
                if s.added or s.changed or s.removed:
                    self.log(
                        f"re-indexed {served.path}: {s.added} added, {s.changed} changed, "
                        f"{s.removed} removed in {s.seconds:.1f} s"
                    )
                break
        try:
            served.current()  # load and warm the new generation, then switch to it
        except TasksiftError as exc:
            self.log(f"still serving the previous generation of {served.path}: {exc}")
