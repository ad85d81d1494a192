"""The local search service: a Unix socket in each served index folder (mode 0600), JSON
lines each way (see ``protocol``), forwarded ``tasksift search`` command lines run one at
a time on the warm catalog.

The service runs the command line it is sent through the CLI itself (``Run``: the app's
``main.run``), in the caller's working directory, with the caller's terminal, its output
captured in order; so what it replies is what the command would have printed, exit code
included. It declines (``fallback``) what it cannot run the same way: another index,
another protocol version, another environment, its own failure.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tasksift.errors import UsageError
from tasksift.serve.answer import Declined, warm
from tasksift.serve.catalog import Catalog
from tasksift.serve.protocol import (
    CONNECT_SECONDS,
    PROTOCOL_VERSION,
    build,
    encode,
    environment,
    socket_path,
)

if TYPE_CHECKING:
    from tasksift.search.searcher import Loaders

Run = Callable[[list[str], IO[str], IO[str], dict[str, Any]], int]
"""Runs ``tasksift ARGV`` writing to (stdout, stderr) as the caller's terminal would."""


class _Handler(socketserver.StreamRequestHandler):
    """One connection: a reply for each request line, until the client closes."""

    def handle(self) -> None:
        service: SearchService = self.server.service  # type: ignore[attr-defined]
        for line in self.rfile:
            self.wfile.write(encode(service.reply(line)))
            self.wfile.flush()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, service: SearchService) -> None:
        self.service = service
        old = os.umask(0o177)  # the socket is created 0600: this user only
        try:
            super().__init__(str(path), _Handler)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.identity = os.stat(path).st_ino


class _Capture(io.TextIOBase):
    """One of the caller's streams (1: stdout, 2: stderr): its writes recorded, in order
    with the other's; a terminal or not, with an encoding, as the caller's is."""

    def __init__(self, stream: int, writes: list[list[Any]], terminal: dict[str, Any]) -> None:
        self._stream, self._writes = stream, writes
        self._isatty = bool(terminal["isatty"][stream - 1])
        self._encoding = str(terminal["encoding"][stream - 1])

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def isatty(self) -> bool:
        return self._isatty

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._writes and self._writes[-1][0] == self._stream:
            self._writes[-1][1] += text
        else:
            self._writes.append([self._stream, text])
        return len(text)


class SearchService:
    """Runs forwarded search command lines for the catalog's indexes on their sockets."""

    def __init__(self, catalog: Catalog, run: Run) -> None:
        self.catalog = catalog
        self.run = run
        self._lock = threading.Lock()  # one command at a time: it changes directory
        self._servers: list[tuple[Path, _Server, threading.Thread]] = []

    def reply(self, line: bytes) -> dict[str, Any]:
        """The answer to one request line: ``{"writes", "code"}`` or ``{"fallback": why}``."""
        try:
            request = json.loads(line)
            if request.get("v") != PROTOCOL_VERSION or request.get("tasksift") != build():
                return {"fallback": "another version of tasksift"}
            argv, cwd, terminal = request["argv"], request["cwd"], request["terminal"]
            served = self.catalog.at(Path(request["index"]))
            if served is None:
                return {"fallback": "not an index this service serves"}
            if request["environment"] != environment():
                return {"fallback": "another environment (TASKSIFT_FAST_PATH)"}
            if not (isinstance(argv, list) and argv[:1] == ["search"]):
                return {"fallback": "not a search"}
        except (ValueError, TypeError, KeyError, AttributeError):
            return {"fallback": "not a search request"}
        with self._lock:
            try:
                return self._run([str(a) for a in argv], cwd, terminal)
            except Declined as exc:
                return {"fallback": str(exc)}
            except Exception:  # a bug here must not cost the caller its answer
                traceback.print_exc(file=sys.stderr)
                return {"fallback": "the service failed; see its log"}

    def _run(self, argv: list[str], cwd: str, terminal: dict[str, Any]) -> dict[str, Any]:
        """Run ``argv`` in ``cwd`` on the warm indexes; what it wrote and its exit code."""
        writes: list[list[Any]] = []
        out, err = _Capture(1, writes, terminal), _Capture(2, writes, terminal)
        here = os.getcwd()
        try:
            os.chdir(cwd)  # relative paths (the index, a queries file) as the caller's
        except OSError as exc:
            raise Declined(f"cannot enter the caller's directory: {exc}") from None
        try:
            with warm(self._loaders):
                code = self.run(argv, out, err, terminal)
        finally:
            os.chdir(here)
        return {"writes": writes, "code": code}

    def _loaders(self, index: Path) -> Loaders:
        """The warm loaders of ``index``, which the command opens; ``Declined`` when this
        service does not serve it (``-i`` named another, say)."""
        served = self.catalog.at(index.resolve())
        if served is None:
            raise Declined(f"{index} is not an index this service serves")
        return served.loaders(served.current())

    def start(self) -> list[Path]:
        """Listen on a socket in every served index folder; the sockets' paths."""
        for served in self.catalog.indexes:
            path = socket_path(served.path)
            _claim(path)
            try:
                server = _Server(path, self)
            except OSError as exc:
                self.stop()
                raise UsageError(f"cannot listen on {path}: {exc.strerror or exc}") from None
            thread = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
            thread.start()
            self._servers.append((path, server, thread))
        return [path for path, _, _ in self._servers]

    def stop(self) -> None:
        """Stop listening and remove the sockets (those still this service's)."""
        for path, server, _ in self._servers:
            server.shutdown()
            server.server_close()
            try:
                if os.stat(path).st_ino == server.identity:
                    path.unlink()
            except OSError:
                pass
        self._servers.clear()


def _claim(path: Path) -> None:
    """Make room for a socket at ``path``: refuse when a live service listens there,
    remove a stale one (its service was killed)."""
    if not path.exists():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(CONNECT_SECONDS)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
            return
    raise UsageError(f"a service already serves this index (listening on {path}); stop it first")


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (Ctrl-C): install before listening, so that a
    signal that comes early still stops the service cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_for(stop: threading.Event) -> None:
    while not stop.wait(1.0):
        pass
