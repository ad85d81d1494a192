"""`tasksift serve` and `tasksift mcp` against the cold command line, in one run.

    python bench/serve.py [--index PATH] [-n 100] [--mode hybrid] [--edits 10]

INDEX: an index to search (SciFact's: bench/results/scifact.tasksift), else the sample
corpus indexed into bench/results/sample.tasksift. Reported, each beside its baseline:
- a bash loop of N single `tasksift search` processes (written to /dev/null), first with
  no service (cold: each loads the index and the model), then with `tasksift serve` on
  INDEX (each forwards its command line): queries/s of both and their ratio (>= 10 q/s);
- one forwarded search through the socket from a warm client, p50 / p95 (<= 15 / 40 ms);
- the service's start-up and resident memory; an MCP `search` round trip through the SDK's
  stdio client, p50 (<= 25 ms);
- on a copy of the sample corpus under `serve --watch`: the idle watcher's CPU (< 1% of a
  core) and how long a saved file takes to be found (median of EDITS edits, <= 3 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_INDEX, QUERIES, RESULTS, ROOT, TASKSIFT, record, row, run_checked
from tasksift.serve.protocol import ask

SAMPLE_INDEX = RESULTS / "sample.tasksift"
FALLBACK_QUERIES = [
    "how do I keep mayonnaise from splitting",
    "what raises a credit score",
    "why do rivers flood after a dry summer",
    "gradient descent learning rate too high",
    "can a landlord keep the deposit",
    "symptoms of dehydration in children",
    "how beavers change a stream",
    "overfitting and regularization",
]
TARGET_QPS = 10.0


def build_index(corpus: Path, index: Path) -> Path:
    if not (index / "CURRENT").is_file():
        run_checked([*TASKSIFT, "index", str(corpus), "-i", str(index), "-q"], f"indexing {corpus}")
    return index


def queries_for(index: Path, n: int) -> list[str]:
    texts = FALLBACK_QUERIES
    if index.resolve() == DEFAULT_INDEX.resolve() and QUERIES.is_file():
        with QUERIES.open(encoding="utf-8") as lines:
            texts = [json.loads(line)["text"] for line, _ in zip(lines, range(n), strict=False)]
    return [texts[i % len(texts)] for i in range(n)]


def shell_loop(index: Path, queries: list[str], mode: str) -> float:
    """Seconds for a bash loop of one `tasksift search` process per query."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        file.write("\n".join(queries) + "\n")
    command = " ".join(TASKSIFT)
    script = (
        f'while IFS= read -r q; do {command} search "$q" -i "{index}" -k 10 -f tsv '
        f'--mode {mode} > /dev/null || exit 1; done < "{file.name}"'
    )
    began = time.perf_counter()
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    seconds = time.perf_counter() - began
    Path(file.name).unlink()
    if done.returncode != 0:
        sys.exit(f"a search failed: {done.stderr.strip()}")
    return seconds


def search_argv(index: Path, query: str, mode: str = "hybrid") -> list[str]:
    return ["search", query, "-i", str(index), "-k", "10", "-f", "tsv", "--mode", mode]


def start_service(index: Path, watch: bool = False) -> tuple[subprocess.Popen, float]:
    began = time.perf_counter()
    command = [*TASKSIFT, "serve", "-i", str(index), *(["--watch"] if watch else [])]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    while ask(index, search_argv(index, "warm")) is None:
        if process.poll() is not None:
            sys.exit("the service did not start")
        time.sleep(0.05)
    return process, time.perf_counter() - began


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:.2f} q/s ({seconds / n:.3f} s each)"


def p50_p95(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=20)[-1]


def socket_latencies(index: Path, queries: list[str], mode: str) -> list[float]:
    """Milliseconds per forwarded search through the socket, from this (warm) process."""
    times = []
    for text in queries:
        began = time.perf_counter()
        reply = ask(index, search_argv(index, text, mode))
        times.append((time.perf_counter() - began) * 1000)
        if reply is None or reply["code"] != 0:
            sys.exit(f"the service did not answer: {reply}")
    return times


def mcp_latencies(index: Path, queries: list[str]) -> list[float]:
    """Milliseconds per MCP `search` call through the SDK's stdio client (after a first)."""
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    command = [*TASKSIFT, "mcp", "-i", str(index)]
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    times: list[float] = []

    async def calls() -> None:
        with open(os.devnull, "w") as devnull:
            async with (
                stdio_client(params, errlog=devnull) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await session.call_tool("search", {"query": "warm", "k": 10})
                for text in queries:
                    began = time.perf_counter()
                    result = await session.call_tool("search", {"query": text, "k": 10})
                    times.append((time.perf_counter() - began) * 1000)
                    if result.is_error:
                        sys.exit(f"the MCP search failed: {result.content}")

    anyio.run(calls)
    return times


def found(index: Path, query: str, path: str) -> bool:
    reply = ask(index, ["search", query, "-i", str(index), "-k", "1", "-f", "tsv"])
    out = "".join(text for stream, text in (reply or {}).get("writes", []) if stream == 1)
    return f"\t{path}\t" in out


def watch_figures(edits: int) -> None:
    """Idle CPU of `serve --watch` and the time from a saved file to its being found."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "sample_corpus", corpus)
        index = build_index(corpus, Path(tmp) / "index")
        process, _ = start_service(index, watch=True)
        try:
            delays = []
            for i in range(edits):
                word = f"zyxquor{i}glimbet"
                (corpus / f"edit{i}.md").write_text(f"# Note {i}\n\nThe {word} sits here.\n")
                began = time.perf_counter()
                while not found(index, word, f"edit{i}.md"):
                    if time.perf_counter() - began > 60:
                        sys.exit(f"edit {i} was not found in 60 s")
                    time.sleep(0.05)
                delays.append(time.perf_counter() - began)
            time.sleep(3)  # idle: after the edits, its libraries loaded, nothing to do
            cpu, began = cpu_seconds(process.pid), time.perf_counter()
            time.sleep(10)
            idle = (cpu_seconds(process.pid) - cpu) / (time.perf_counter() - began) * 100
            row("idle watcher CPU (10 s)", f"{idle:.2f}% of a core (target < 1%)")
            record("watch_idle_cpu_percent", idle)
        finally:
            process.terminate()
            process.wait(timeout=60)
    median = statistics.median(delays)
    row(f"saved file found, median of {edits}", f"{median:.2f} s (target <= 3 s)")
    record("watch_seconds", {"median": median, "all": delays})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("-n", type=int, default=100, help="searches per loop")
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    parser.add_argument("--edits", type=int, default=10, help="files saved under --watch")
    options = parser.parse_args()
    index = options.index or (DEFAULT_INDEX if (DEFAULT_INDEX / "CURRENT").is_file() else None)
    index = (index or build_index(ROOT / "sample_corpus", SAMPLE_INDEX)).resolve()
    described = [*TASKSIFT, "info", "-i", str(index), "-f", "json"]
    info = json.loads(subprocess.run(described, capture_output=True, text=True, check=True).stdout)
    queries = queries_for(index, options.n)
    row("index", f"{index} ({info['chunks']} chunks)")
    row("searches per loop", f"{len(queries)} ({options.mode})")
    row("load average before", " ".join(f"{x:.2f}" for x in os.getloadavg()))

    cold = shell_loop(index, queries, options.mode)
    row("cold loop (no service)", rate(len(queries), cold))
    process, started = start_service(index)
    try:
        row("service start-up, until it answers", f"{started:.2f} s")
        warm = shell_loop(index, queries, options.mode)
        row("loop through the service", rate(len(queries), warm))
        latencies = socket_latencies(index, queries, options.mode)
        row("service RSS after the loops", f"{rss_mib(process.pid):.0f} MiB")
        record("service_rss_mib", rss_mib(process.pid))
    finally:
        process.terminate()
        process.wait(timeout=60)
    p50, p95 = p50_p95(latencies)
    row("one search through the socket, p50 / p95", f"{p50:.1f} / {p95:.1f} ms (target 15 / 40)")
    row("speed-up of the loop", f"{cold / warm:.1f}x")
    enough = len(queries) / warm >= TARGET_QPS
    row(f"loop >= {TARGET_QPS:.0f} q/s through the service", "yes" if enough else "no")
    record("cold_qps", len(queries) / cold)
    record("warm_qps", len(queries) / warm)
    record("ratio", cold / warm)
    record("socket_ms", {"p50": p50, "p95": p95, "all": latencies})
    mcp = mcp_latencies(index, queries[:30])
    m50, m95 = p50_p95(mcp)
    row("MCP search round trip (SDK client), p50 / p95", f"{m50:.1f} / {m95:.1f} ms (target 25)")
    record("mcp_ms", {"p50": m50, "p95": m95, "all": mcp})
    watch_figures(options.edits)
    row("load average after", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
