"""The local search service: a Unix socket in each served index folder (mode 0600), JSON
lines each way (see ``protocol``), searches answered from the warm catalog one at a time.

The service answers exactly what ``tasksift search`` would print, by running the same
code (``answer``) into a buffer; it declines (``fallback``) what it cannot answer the same
way: another index, another protocol version, another environment, its own failure.
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
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tasksift.errors import TasksiftError, UsageError
from tasksift.serve.answer import answer, console_for, open_searcher
from tasksift.serve.catalog import Catalog, ServedIndex
from tasksift.serve.protocol import (
    CONNECT_SECONDS,
    PROTOCOL_VERSION,
    Reply,
    SearchArgs,
    encode,
    environment,
    socket_path,
)


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


class SearchService:
    """Answers search requests for the catalog's indexes on their sockets."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()  # one search at a time: two cores, shared models
        self._servers: list[tuple[Path, _Server, threading.Thread]] = []

    def reply(self, line: bytes) -> dict[str, Any]:
        """The answer to one request line: ``{"reply": Reply}`` or ``{"fallback": why}``."""
        try:
            message = json.loads(line)
            if message.get("v") != PROTOCOL_VERSION:
                return {"fallback": "another protocol version"}
            args = SearchArgs.from_json(message["search"])
        except (ValueError, TypeError, KeyError, AttributeError):
            return {"fallback": "not a search request"}
        served = self.catalog.at(Path(args.location))
        if served is None:
            return {"fallback": "not an index this service serves"}
        if args.environment != environment():
            return {"fallback": "another environment (TASKSIFT_FAST_PATH)"}
        with self._lock:
            try:
                return {"reply": asdict(self._search(served, args))}
            except TasksiftError as exc:
                return {"reply": asdict(Reply(error=type(exc).__name__, message=str(exc)))}
            except Exception:  # a bug here must not cost the caller its answer
                traceback.print_exc(file=sys.stderr)
                return {"fallback": "the service failed; see its log"}

    def _search(self, served: ServedIndex, args: SearchArgs) -> Reply:
        searcher = open_searcher(args, served.loaders(served.current()))
        out, notes = io.StringIO(), []
        try:
            answer(searcher, args, out, console_for(args.console, out), notes.append)
        except TasksiftError as exc:  # raised after the output (--min-relevance): keep it
            return Reply(out.getvalue(), list(searcher.notes), notes, type(exc).__name__, str(exc))
        return Reply(out.getvalue(), list(searcher.notes), notes)

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
