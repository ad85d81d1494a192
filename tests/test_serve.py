"""Serving: `tasksift mcp` driven by the MCP SDK's own client, `tasksift serve` answering
`tasksift search` byte for byte as the command alone does, a killed service passed over at
once, and an index that follows its folder under --watch. All real subprocesses.

Indexes: the session's mini index (retrieval), copied so that a socket never lands in it,
and the mini corpus indexed once more for similarity in its own folder (the watched one).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from conftest import MINI_CORPUS, Result, run_cli
from tasksift.serve.protocol import ask, socket_path

QUERY = "why does my mayonnaise split"
FORMATS = ["table", "json", "jsonl", "tsv", "trec"]  # every format search writes


@dataclass
class Service:
    index: Path
    process: subprocess.Popen


def listening(path: Path) -> bool:
    """Whether a service accepts connections on ``path`` (a stale socket does not)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def start_service(*indexes: Path, watch: bool = False) -> subprocess.Popen:
    """``tasksift serve`` on ``indexes``, once it listens on each."""
    served = [a for index in indexes for a in ("--index", str(index))]
    process = subprocess.Popen(
        [sys.executable, "-m", "tasksift", "serve", *served, *(["--watch"] if watch else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not all(listening(socket_path(index)) for index in indexes):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen, sig: signal.Signals = signal.SIGTERM) -> int:
    process.send_signal(sig)
    code = process.wait(timeout=60)
    process.stderr.close()
    return code


@pytest.fixture(scope="module")
def similarity_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini corpus, in a folder of its own, indexed for the similarity task (in this
    process: the session has the model's libraries imported already)."""
    root = tmp_path_factory.mktemp("similarity")
    shutil.copytree(MINI_CORPUS, root / "corpus")
    index_in_process(root / "corpus", "-i", root / "index", "--task", "similarity")
    return root / "index"


@pytest.fixture(scope="module")
def served(
    built_index: Path, similarity_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """One service for the module, with --watch, on a copy of the session's index (searched)
    and on the similarity index (whose corpus the tests edit). Started first, it has its
    model libraries imported by the time a test edits a file. The last test kills it."""
    index = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(built_index, index)
    service = Service(index, start_service(index, similarity_index, watch=True))
    yield service
    if service.process.poll() is None:  # the last test kills it
        assert stop(service.process) == 0
    service.process.stderr.close()


# ---------------------------------------------------------------- the search service


def test_the_socket_is_private(served: Service) -> None:
    mode = socket_path(served.index).stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


SERVICE_FREE = {"typer", "click", "rich", "numpy", "pyarrow", "onnxruntime"}


def through_service(*args: str | Path, cwd: Path | None = None) -> Result:
    """``tasksift ARGS`` run as a subprocess that must have been answered by the service:
    it imported none of the CLI's or the search's libraries (read from -X importtime,
    whose lines are then taken out of its stderr)."""
    result = run_cli(*args, cwd=cwd, interpreter=("-X", "importtime"))
    lines = result.stderr.splitlines(keepends=True)
    imported = {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}
    assert "tasksift.serve.protocol" in imported and not SERVICE_FREE & imported, result.stderr
    stderr = "".join(line for line in lines if not line.startswith("import time:"))
    return Result(result.code, result.stdout, stderr)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_the_same_through_the_service(served: Service, fmt: str) -> None:
    args = ("search", QUERY, "-i", served.index, "-k", "3", "--explain", "-f", fmt)
    through, alone = through_service(*args), run_cli(*args, "--no-server")
    assert through.code == alone.code == 0, alone.stderr
    assert through.stdout == alone.stdout and through.stdout
    assert through.stderr == alone.stderr


def test_batches_filters_usage_errors_and_refusals_are_the_same(
    served: Service, tmp_path: Path
) -> None:
    (tmp_path / "queries.tsv").write_text(
        "q1\triver banks washing away\nq2\t\nq3\thow is a loan approved\n"
    )
    index = os.path.relpath(served.index, tmp_path)  # relative paths, from the caller's cwd
    for args, code in [
        (("search", "-Q", "queries.tsv", "-f", "tsv", "--chunks"), 8),  # a skipped line
        (("search", QUERY, "--path", "kitchen/*", "--mode", "lexical", "-f", "jsonl"), 0),
        (("search", QUERY, "--task", "clustering"), 3),  # the guard's refusal
        (("search", QUERY, "-k", "0"), 2),  # a usage error, typer's message
        (("search", QUERY, "--format", "yaml"), 2),
        (("search", "xylophone quantum", "--min-relevance", "0.99"), 10),  # no hit left
    ]:
        through = through_service(*args, "-i", index, cwd=tmp_path)
        alone = run_cli(*args, "-i", index, "--no-server", cwd=tmp_path)
        assert (through.code, through.stdout, through.stderr) == (
            code,
            alone.stdout,
            alone.stderr,
        ), args


def test_what_is_not_forwarded_runs_here(served: Service, tmp_path: Path) -> None:
    """Queries on stdin, another index and --help run in the caller's process."""
    stdin = run_cli("search", "-Q", "-", "-i", served.index, "-f", "tsv", stdin="q1\tbeaver\n",
                    interpreter=("-X", "importtime"))  # fmt: skip
    assert stdin.code == 0 and "| typer" in stdin.stderr
    assert ask(served.index, ["search", QUERY, "-i", str(tmp_path)]) is None  # declined


def test_a_shell_loop_of_searches(served: Service) -> None:
    script = (
        'for q in "mayonnaise split" "loan approval" "beaver dams"; do '
        f'"{sys.executable}" -m tasksift search "$q" -i "{served.index}" -k 1 -f tsv || exit 1; '
        "done"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = [line.split("\t")[1] for line in done.stdout.splitlines()]
    assert found == ["kitchen/mayonnaise.md", "money/loan-approval.md", "nature/beaver-dams.txt"]


# ---------------------------------------------------------------- MCP over stdio


def mcp_session(*indexes: Path, watch: bool = False):
    """The SDK's client on ``tasksift mcp`` serving ``indexes`` (a real subprocess)."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    served = [a for index in indexes for a in ("--index", str(index))]
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tasksift", "mcp", *served, *(["--watch"] if watch else [])],
        env=dict(os.environ),  # the SDK passes a bare environment otherwise
    )

    class Session:
        async def __aenter__(self) -> Any:
            self._transport = stdio_client(params, errlog=subprocess.DEVNULL)
            read, write = await self._transport.__aenter__()
            self._session = ClientSession(read, write)
            session = await self._session.__aenter__()
            await session.initialize()
            return session

        async def __aexit__(self, *exc: object) -> None:
            await self._session.__aexit__(*exc)
            await self._transport.__aexit__(*exc)

    return Session()


def paths_of(result: Any) -> list[str]:
    assert not result.is_error, result.content
    return [hit["path"] for hit in result.structured_content["results"]]


def test_mcp_tools_route_by_task_and_refuse_with_the_way_out(
    built_index: Path, similarity_index: Path, served: Service
) -> None:
    """The MCP server watches too; the module's service, whose model libraries are loaded
    already, may re-index first: then the server's own update waits for the lock, finds
    nothing to do, and the server answers from the new generation all the same."""
    corpus = similarity_index.parent / "corpus"
    added = corpus / "kitchen" / "sourdough.md"

    async def session() -> None:
        async with mcp_session(built_index, similarity_index, watch=True) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(tools) == {"search", "similar", "classify", "dupes", "cluster", "indexes"}
            assert tools["search"].input_schema["properties"]["task"]["default"] == "retrieval"

            found = await client.call_tool("search", {"query": QUERY, "k": 2})
            assert paths_of(found)[0] == "kitchen/mayonnaise.md"
            hit = found.structured_content["results"][0]
            assert hit["location"] == "kitchen/mayonnaise.md:1" and "dense_rank" in hit["explain"]
            assert found.structured_content["index"] == str(built_index.resolve())
            routed = await client.call_tool("search", {"query": QUERY, "task": "similarity"})
            assert routed.structured_content["index"] == str(similarity_index.resolve())
            like = await client.call_tool("similar", {"path": "kitchen/mayonnaise.md", "k": 1})
            assert like.structured_content["index"] == str(similarity_index.resolve())
            assert paths_of(like) != ["kitchen/mayonnaise.md"]  # never itself

            refused = await client.call_tool("cluster", {"n": 2})
            message = refused.content[0].text
            assert refused.is_error and "'clustering'" in message
            assert "retrieval" in message and "similarity" in message
            assert "tasksift index" in message and "--task clustering" in message

            for bad in [{"query": QUERY, "k": 0}, {"query": "  "}, {"query": QUERY, "task": "x"}]:
                assert (await client.call_tool("search", bad)).is_error, bad
            outside = await client.call_tool("similar", {"path": "../../etc/passwd"})
            assert outside.is_error  # a path names a document of the index, never a file

            served = (await client.call_tool("indexes", {})).structured_content["indexes"]
            assert [s["task"] for s in served] == ["retrieval", "similarity"]
            assert served[1]["documents"] == 8 and served[1]["generation"].startswith("gen-")

            added.write_text("# Sourdough starter\n\nFeed the levain with rye flour daily.\n")
            deadline = time.monotonic() + 60
            while True:  # the server stays alive and answers while it re-indexes
                edited = {"query": "levain rye flour", "task": "similarity", "k": 1}
                if paths_of(await client.call_tool("search", edited)) == ["kitchen/sourdough.md"]:
                    break
                assert time.monotonic() < deadline, "the edit was not indexed"
                await anyio.sleep(0.2)

    anyio.run(session)  # sourdough.md stays, indexed: the corpus is this module's own


def served_paths(index: Path, query: str) -> list[str]:
    """The paths a running service answers for ``query`` (JSON Lines), through its socket."""
    import json

    reply = ask(index, ["search", query, "-i", str(index), "-k", "3", "-f", "jsonl"])
    assert reply is not None and reply["code"] == 0, reply
    stdout = "".join(text for stream, text in reply["writes"] if stream == 1)
    return [json.loads(line)["path"] for line in stdout.splitlines()]


def wait_until(index: Path, query: str, done: Any) -> list[list[str]]:
    """Ask the service ``query`` until ``done(paths)``; every answer along the way."""
    answers = [served_paths(index, query)]
    deadline = time.monotonic() + 60
    while not done(answers[-1]):
        assert time.monotonic() < deadline, f"not seen in time: {answers[-1]}"
        time.sleep(0.1)
        answers.append(served_paths(index, query))
    return answers


def test_watch_follows_added_changed_and_deleted_files(
    served: Service, similarity_index: Path
) -> None:
    corpus = similarity_index.parent / "corpus"
    added, changed = "nature/glaciers.md", "health/vaccines.txt"
    (corpus / added).write_text(
        "# Glaciers\n\nA glacier carves a fjord as the ice creeps seaward.\n"
    )
    answers = wait_until(similarity_index, "glacier fjord ice", lambda p: p[0] == added)
    assert added not in answers[0]  # the previous generation answered meanwhile

    (corpus / changed).write_text("Vaccines train the immune system. Also: volcanic basalt.\n")
    wait_until(similarity_index, "volcanic basalt", lambda p: p[0] == changed)

    (corpus / added).unlink()
    wait_until(similarity_index, "glacier fjord ice", lambda p: added not in p)
    assert served.process.poll() is None


def test_a_killed_service_is_passed_over_at_once(built_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(built_index, index)
    process = start_service(index)
    argv = ["search", QUERY, "-i", str(index), "-k", "1", "-f", "tsv"]
    assert ask(index, argv) is not None
    assert stop(process, signal.SIGKILL) == -signal.SIGKILL
    assert socket_path(index).exists()  # left behind: stale
    began = time.perf_counter()
    assert ask(index, argv) is None
    assert time.perf_counter() - began < 0.2
    result = run_cli("search", QUERY, "-i", index, "-k", "1", "-f", "tsv")
    assert result.code == 0 and result.stdout.split("\t")[1] == "kitchen/mayonnaise.md"
    again = start_service(index)  # a new service takes the stale socket's place
    assert stop(again) == 0 and not socket_path(index).exists()  # SIGTERM: a clean stop


def index_in_process(*args: str | Path) -> None:
    """``tasksift index`` in this process (its model libraries are imported already)."""
    from tasksift.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["index", *map(str, args), "-q"])
    assert exited.value.code == 0


def test_a_sigkill_during_a_watched_update_leaves_a_usable_index(
    served: Service, similarity_index: Path
) -> None:
    """Last: it kills the module's service while its watcher writes a generation."""
    corpus = similarity_index.parent / "corpus"
    before = {p.name for p in similarity_index.iterdir()}
    for i in range(40):
        (corpus / "notes").mkdir(exist_ok=True)
        (corpus / "notes" / f"n{i:02d}.txt").write_text(f"Note {i} on tidal marsh sediment.\n")
    deadline = time.monotonic() + 60
    while not {p.name for p in similarity_index.iterdir()} - before - {"serve.sock"}:
        assert time.monotonic() < deadline, "the watcher did not start writing"
        time.sleep(0.001)
    assert stop(served.process, signal.SIGKILL) == -signal.SIGKILL  # mid-write
    args = ("search", "tidal marsh sediment", "-i", similarity_index, "-f", "jsonl", "-k", "1")
    assert run_cli(*args).code == 0  # the stale socket passed over, a generation loads
    index_in_process(corpus, "-i", similarity_index)  # the update completes by hand
    assert run_cli(*args).jsonl()[0]["path"].startswith("notes/")
