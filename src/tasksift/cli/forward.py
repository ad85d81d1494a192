"""The ``tasksift`` entry point: a search of an index that ``tasksift serve`` serves is
forwarded to it before anything heavy is imported; everything else runs the CLI here.

Standard library only (with ``index.location`` and ``serve.protocol``): a forwarded
search costs Python's start-up, one round trip and the search itself. The service runs
the very command line it is sent, so what it prints and its exit code are what the
command would have given here; when no service answers, it runs here (``main.main``).
"""

from __future__ import annotations

import sys
from pathlib import Path

NOT_FORWARDED = {"--no-server", "--help"}  # and --queries from stdin


def served_index(argv: list[str]) -> Path | None:
    """The index a ``search`` command line searches, when it may be forwarded: the last
    ``-i``/``--index``, else the one found from here; None for other commands, for
    ``--no-server``, ``--help`` and queries read from stdin."""
    if not argv or argv[0] != "search":
        return None
    explicit: str | None = None
    words = iter(argv[1:])
    for word in words:
        if word == "--" or word in NOT_FORWARDED:
            return None
        if word in ("-i", "--index", "-Q", "--queries"):
            value = next(words, None)
            if value is None or (word in ("-Q", "--queries") and value == "-"):
                return None
            explicit = value if word in ("-i", "--index") else explicit
        elif word.startswith("--index="):
            explicit = word.removeprefix("--index=")
        elif word.startswith("-i"):
            explicit = word[2:]
        elif word in ("--queries=-", "-Q-"):
            return None
    from tasksift.errors import TasksiftError
    from tasksift.index.location import find_index

    try:
        return find_index(Path(explicit) if explicit is not None else None)
    except TasksiftError:
        return None


def forwarded(argv: list[str]) -> int | None:
    """The exit code of ``tasksift ARGV`` run by a service, its output written here; None
    when it was not (not a search, no service for its index, the service declined)."""
    index = served_index(argv)
    if index is None:
        return None
    from tasksift.errors import ExitCode
    from tasksift.serve.protocol import ask

    try:
        reply = ask(index, argv)
    except KeyboardInterrupt:  # as the command says it when it runs here
        sys.stderr.write("interrupted\n")
        return int(ExitCode.INTERRUPTED)
    if reply is None:
        return None
    streams = {1: sys.stdout, 2: sys.stderr}
    try:
        for stream, text in reply["writes"]:
            streams[stream].write(text)
            streams[stream].flush()
    except BrokenPipeError:
        return 0
    return int(reply["code"])


def main() -> None:
    """``tasksift``: through a running service when it serves the search, else here."""
    code = forwarded(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from tasksift.cli.main import main as run_here

    run_here()
