"""Reading a folder corpus's files in a worker process, each under a time limit.

``read_document`` already turns a reader's exception into a failed file; a worker process
contains the rest: a reader that hangs is stopped at the time limit (its worker replaced),
one that crashes its process (a segfault, the memory limit, the OOM killer) fails that
file alone, and the run goes on. Files are sent ahead, so that reading overlaps chunking
and embedding. The worker comes from a fork server, not from this process, so it holds
neither the model nor the index's lock; it dies with the fork server, which dies with
this process. The process pool is pebble's (per-task timeouts, dead workers replaced).
"""

from __future__ import annotations

import signal
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from types import TracebackType

from tasksift.documents import Document, ReadReport, read_document
from tasksift.errors import TasksiftError
from tasksift.options import ReadingOptions

READ_AHEAD_FILES = 32  # files sent to the worker before their documents are taken
READ_AHEAD_BYTES = 64 * 2**20  # and at most this many bytes of them


class Reading:
    """Reads files of the corpus at ``root`` as ``options`` say, counting in ``report``
    what it skips or fails on. Use it as a context manager: the worker stops at its end."""

    def __init__(self, root: Path, options: ReadingOptions, report: ReadReport) -> None:
        self.root = root
        self.options = options
        self.report = report
        self._pool = None  # started at the first file

    def __enter__(self) -> Reading:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None

    def one(self, doc_id: str) -> Document | None:
        """One file's document, None when it was skipped or failed."""
        return next(self.documents([doc_id]))[1]

    def documents(
        self, doc_ids: Sequence[str], sizes: Sequence[int] | None = None
    ) -> Iterator[tuple[str, Document | None]]:
        """Each id with its document (None: skipped or failed), in order; ``sizes`` (bytes
        of each file) bound how much is read ahead."""
        if not self.options.isolated:
            for doc_id in doc_ids:
                yield (
                    doc_id,
                    read_document(
                        self.root / doc_id, self.root, self.report, self.options.max_bytes
                    ),
                )
            return
        waiting = iter(zip(doc_ids, sizes or [0] * len(doc_ids), strict=True))
        sent: deque[tuple[str, int, Future]] = deque()
        ahead = 0
        while True:
            while len(sent) < READ_AHEAD_FILES and ahead < READ_AHEAD_BYTES:
                doc_id, size = next(waiting, (None, 0))
                if doc_id is None:
                    break
                sent.append((doc_id, size, self._send(doc_id)))
                ahead += size
            if not sent:
                return
            doc_id, size, future = sent.popleft()
            ahead -= size
            yield doc_id, self._outcome(doc_id, future)

    def _send(self, doc_id: str) -> Future:
        if self._pool is None:
            self._pool = _start_pool(self.options)
        options = self.options
        return self._pool.schedule(
            _read, args=(str(self.root), doc_id, options.max_bytes), timeout=options.max_seconds
        )

    def _outcome(self, doc_id: str, future: Future) -> Document | None:
        """The worker's document (its skips and failures added to the report), or None."""
        from pebble import ProcessExpired

        try:
            document, seen = future.result()
        except FutureTimeout:
            limit = self.options.max_seconds
            self.report.fail(doc_id, f"reading took over {limit:g} s (--max-seconds-per-file)")
        except ProcessExpired as exc:
            self.report.fail(doc_id, f"the reading process died ({_death(exc.exitcode)})")
        except TasksiftError:
            raise  # not about this file: a reader plugin that cannot be loaded
        except Exception as exc:  # e.g. a document that cannot be sent back
            self.report.fail(doc_id, f"{type(exc).__name__} in the reading process: {exc}")
        else:
            self.report.merge(seen)
            return document
        return None


def _death(code: int | None) -> str:
    """How a worker ended, for the user."""
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        cause = "out of memory, or " if -code == signal.SIGKILL else ""
        return f"{name}: {cause}a bug in a reader; please report it"
    return f"exit status {code}: a bug in a reader; please report it"


def _start_pool(options: ReadingOptions):  # -> pebble.ProcessPool
    import multiprocessing

    from pebble import ProcessPool

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return ProcessPool(
        max_workers=1, context=context, initializer=_limit_worker, initargs=(options.max_memory,)
    )


def _limit_worker(max_memory: int | None) -> None:
    """In the worker: die with the fork server (so with the run), and cap its memory."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if max_memory is not None:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = max_memory if hard == resource.RLIM_INFINITY else min(max_memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _read(root: str, doc_id: str, max_bytes: int | None) -> tuple[Document | None, ReadReport]:
    """In the worker: one file's document and what reading it reported."""
    report = ReadReport()
    folder = Path(root)
    return read_document(folder / doc_id, folder, report, max_bytes), report
