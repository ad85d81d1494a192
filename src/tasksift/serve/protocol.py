"""The local search service's protocol, and its client: standard library only.

A running ``tasksift serve`` listens on a Unix socket inside each index folder it serves
(``INDEX/serve.sock``, mode 0600). A request is one JSON line: a search's arguments as the
command line parsed them (:class:`SearchArgs`). The reply is one JSON line: the exact text
the command writes on stdout, the notes it writes on stderr, or the error it raises
(:class:`Reply`); or ``fallback`` when the service declines and the caller must search in
its own process. :func:`ask` is the client; it imports nothing beyond the standard library,
so that a search through the service costs the command line's start-up and little more.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SOCKET_NAME = "serve.sock"
PROTOCOL_VERSION = 1
CONNECT_SECONDS = 0.25  # a listening service accepts at once; a dead one refuses at once
ENVIRONMENT = ("TASKSIFT_FAST_PATH",)  # variables that change answers: must agree


def socket_path(index_dir: Path) -> Path:
    return index_dir / SOCKET_NAME


@dataclass(frozen=True)
class ConsoleSpec:
    """What rich found out about the caller's terminal, so that the service renders a
    table exactly as the caller's own console would."""

    width: int = 80
    height: int = 25
    color_system: str | None = None
    is_terminal: bool = False
    no_color: bool = False


@dataclass(frozen=True)
class SearchArgs:
    """A search as the command line parsed it: one query (``single``) or a batch of
    ``queries`` given as (id, text, line); enums as their values. ``index`` is the index
    folder as the caller named it (messages show it), ``location`` the same made absolute."""

    index: str
    location: str
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
    console: ConsoleSpec = field(default_factory=ConsoleSpec)
    environment: dict[str, str] = field(default_factory=dict)
    min_relevance: float | None = None  # keep only hits whose relevance reaches it

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchArgs:
        fields = dict(data)
        fields["queries"] = [tuple(q) for q in fields["queries"]]
        fields["paths"], fields["types"] = tuple(fields["paths"]), tuple(fields["types"])
        fields["console"] = ConsoleSpec(**fields["console"])
        return cls(**fields)


def environment() -> dict[str, str]:
    """The variables of this process that change what a search answers."""
    return {name: os.environ[name] for name in ENVIRONMENT if name in os.environ}


@dataclass(frozen=True)
class Reply:
    """What the search printed (``stdout``), its notes (``opened``: on opening the index;
    ``notes``: on the queries) and the error it raised (``error``: a class name of
    ``tasksift.errors``, with ``message``)."""

    stdout: str = ""
    opened: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    message: str = ""


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


def ask(args: SearchArgs) -> Reply | None:
    """The service's reply to ``args``; None when no service answers for its index (none
    listening, a stale socket, a service that died mid-way or declined)."""
    path = socket_path(Path(args.location))
    if not path.exists():
        return None
    try:
        request = encode({"v": PROTOCOL_VERSION, "search": asdict(args)})
    except UnicodeError:  # text the command line could not decode: search in-process
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(CONNECT_SECONDS)
        try:
            connection.connect(str(path))
            connection.settimeout(None)  # a first rerank may load a model: no time limit
            connection.sendall(request)
            line = read_line(connection)
        except OSError:
            return None
    try:
        answer = json.loads(line)
    except ValueError:
        return None
    if not isinstance(answer, dict) or "reply" not in answer:
        return None
    return Reply(**answer["reply"])
