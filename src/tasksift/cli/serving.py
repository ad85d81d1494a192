"""The serving commands: ``serve`` (a warm local service that runs the ``tasksift search``
command lines ``cli.forward`` sends it) and ``mcp`` (an MCP server for agents).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from tasksift.cli.console import forwarded, stderr
from tasksift.errors import UsageError

if TYPE_CHECKING:
    from tasksift.serve.catalog import Catalog
    from tasksift.serve.service import Run
    from tasksift.serve.watcher import Watcher


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(mcp)


ServedIndexes = Annotated[
    list[Path] | None,
    typer.Option(
        "--index",
        "-i",
        help="An index to serve (repeatable: several indexes of one corpus built for "
        "different tasks, say). Default: the one `search` would use.",
        show_default=False,
    ),
]
WatchOption = Annotated[
    bool,
    typer.Option(
        "--watch",
        help="Re-index changed, added and deleted files of each index's corpus as they "
        "happen (the same update as `tasksift index`); searches switch to the new generation "
        "when it is ready.",
    ),
]
TrustOption = Annotated[
    bool,
    typer.Option("--trust-remote-code", help="With --watch: allow models that run their own code."),
]


def _forwarded(run: Callable[[list[str]], int]) -> Run:
    """``run`` (the app's ``main.run``) for command lines a service runs for a caller."""

    def run_forwarded(argv: list[str], out: IO[str], err: IO[str], terminal: dict[str, Any]) -> int:
        with forwarded(out, err, terminal):
            return run(argv)

    return run_forwarded


def _require(module: str, what: str) -> None:
    """A clear line, not an ImportError, when the ``serve`` extra is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{what} needs the {module} package: pip install 'tasksift[serve]'")


def _catalog(paths: list[Path] | None) -> Catalog:
    from tasksift.index.location import find_index
    from tasksift.serve.catalog import Catalog

    return Catalog.open(list(paths) if paths else [find_index(None)])


def _log(message: str) -> None:
    stderr().print(escape(message), soft_wrap=True)


def _describe(catalog: Catalog) -> None:
    for served in catalog.indexes:
        m = served.current().manifest
        _log(f"serving {served.path} (task {m.task.value}, {m.documents} documents)")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _exit_on_sigterm() -> None:
    """SIGTERM ends the command as Ctrl-C does, through its cleanup."""
    signal.signal(signal.SIGTERM, _interrupt)


def serve(
    ctx: typer.Context,
    index_paths: ServedIndexes = None,
    watch: WatchOption = False,
    trust_remote_code: TrustOption = False,
) -> None:
    """Keep indexes loaded and answer `tasksift search` on them until stopped (Ctrl-C).

    Listens on a Unix socket in each index folder (serve.sock, this user only). A search of
    a served index goes through the service (no start-up cost) and prints what it would
    have printed alone; with no service listening it runs alone (--no-server forces that).
    """
    from tasksift.serve.service import SearchService, stop_on_signals, wait_for

    if watch:
        _require("watchfiles", "--watch")
    stop = stop_on_signals()
    catalog = _catalog(index_paths)
    service = SearchService(catalog, _forwarded(ctx.obj))
    watcher = _watcher(catalog, trust_remote_code) if watch else None
    try:
        sockets = service.start()
        _describe(catalog)
        _log("listening on " + ", ".join(map(str, sockets)))
        wait_for(stop)
    finally:
        if watcher is not None:
            watcher.stop()
        service.stop()
    _log("stopped")


def _watcher(catalog: Catalog, trust_remote_code: bool) -> Watcher:
    from tasksift.serve.watcher import Watcher

    watcher = Watcher(catalog, _log, trust_remote_code)
    watcher.start()
    return watcher


def mcp(
    index_paths: ServedIndexes = None,
    watch: WatchOption = False,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            metavar="HOST:PORT",
            help="Serve MCP over streamable HTTP on this address (e.g. 127.0.0.1:8765) "
            "instead of stdio.",
            show_default=False,
        ),
    ] = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Serve indexes to AI agents: a Model Context Protocol server on stdio.

    Tools: search, similar, classify, dupes, cluster (each with a task, routed to the index
    built for it) and indexes. Configure it in an MCP client as the command `tasksift mcp
    --index PATH`.
    """
    address = _address(http) if http is not None else None
    _require("mcp", "tasksift mcp")
    if watch:
        _require("watchfiles", "--watch")
    from tasksift.serve.mcp_server import build_server

    catalog = _catalog(index_paths)
    server = build_server(catalog)
    watcher = _watcher(catalog, trust_remote_code) if watch else None
    _describe(catalog)
    _exit_on_sigterm()
    try:
        if address is None:
            server.run()
        else:
            server.run("streamable-http", host=address[0], port=address[1])
    finally:
        if watcher is not None:
            watcher.stop()


def _address(http: str) -> tuple[str, int]:
    host, _, port = http.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--http takes HOST:PORT, e.g. 127.0.0.1:8765, not {http!r}")
    return host, int(port)
