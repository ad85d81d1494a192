"""The local search service's protocol, and its client: standard library only.

A running ``tasksift serve`` listens on a Unix socket inside each index folder it serves
(``INDEX/serve.sock``, mode 0600). A request is one JSON line: a ``tasksift search``
command line as the caller typed it (``argv``), its working directory, the index it found,
the variables that change answers (``ENVIRONMENT``) and what the caller's terminal is like
(:func:`terminal`). The service runs that very command in its own process, warm, and
replies one JSON line: what it wrote, in order, on stdout (1) and stderr (2), and its exit
code; or ``fallback`` when it declines and the caller must run the command itself.
:func:`ask` is the client: it imports nothing beyond the standard library, so that a
search through the service costs Python's start-up and little more.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

SOCKET_NAME = "serve.sock"
PROTOCOL_VERSION = 2
CONNECT_SECONDS = 0.25  # a listening service accepts at once; a dead one refuses at once
ENVIRONMENT = ("TASKSIFT_FAST_PATH",)  # variables that change answers: must agree
TERMINAL_VARIABLES = (  # what rich reads to size and colour its output
    "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
    "COLUMNS", "LINES", "JUPYTER_COLUMNS", "JUPYTER_LINES", "TASKSIFT_INDEX",
)  # fmt: skip


def socket_path(index_dir: Path) -> Path:
    return index_dir / SOCKET_NAME


def build() -> str:
    """This tasksift's version and where it is installed: a service runs a command line
    only for a caller of the same build (one started before an upgrade does not)."""
    import tasksift

    return f"{tasksift.__version__} {Path(tasksift.__file__).parent}"


def environment() -> dict[str, str]:
    """The variables of this process that change what a search answers."""
    return {name: os.environ[name] for name in ENVIRONMENT if name in os.environ}


def terminal() -> dict[str, Any]:
    """What this process's terminal is like: the variables rich reads, whether stdout and
    stderr are terminals, their encodings, and the size of the first standard stream that
    has one (rich asks stdin, stdout, stderr in that order)."""
    size = None
    for fd in (0, 1, 2):
        try:
            size = tuple(os.get_terminal_size(fd))
            break
        except (AttributeError, ValueError, OSError):
            pass
    streams = (sys.stdout, sys.stderr)
    return {
        "environ": {name: os.environ[name] for name in TERMINAL_VARIABLES if name in os.environ},
        "isatty": [bool(s and s.isatty()) for s in streams],
        "encoding": [getattr(s, "encoding", None) or "utf-8" for s in streams],
        "size": size,
    }


def request(index_dir: Path, argv: list[str]) -> dict[str, Any]:
    """The request that asks the service of ``index_dir`` to run ``tasksift ARGV``."""
    return {
        "v": PROTOCOL_VERSION,
        "tasksift": build(),
        "index": str(index_dir.resolve()),
        "argv": argv,
        "cwd": os.getcwd(),
        "environment": environment(),
        "terminal": terminal(),
    }


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n"


def read_line(connection: socket.socket) -> bytes:
    """One line from ``connection``; empty when it closed first."""
    chunks: list[bytes] = []
    while True:
        chunk = connection.recv(1 << 16)
        if not chunk:
            return b""
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


def ask(index_dir: Path, argv: list[str]) -> dict[str, Any] | None:
    """The service's reply to ``tasksift ARGV`` on ``index_dir``: ``{"writes": [[stream,
    text], ...], "code": exit code}``; None when no service answers (none listening, a stale
    socket, a service that died mid-way or declined)."""
    path = socket_path(index_dir)
    if not path.exists():
        return None
    try:
        line = encode(request(index_dir, argv))
    except (UnicodeError, OSError):  # undecodable arguments, a vanished cwd: run it here
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(CONNECT_SECONDS)
        try:
            connection.connect(str(path))
            connection.settimeout(None)  # a first rerank may load a model: no time limit
            connection.sendall(line)
            answer = read_line(connection)
        except OSError:
            return None
    try:
        reply = json.loads(answer)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) and "code" in reply else None
