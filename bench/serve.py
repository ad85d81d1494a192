"""A shell loop of single `tasksift search` commands, cold against a running `tasksift serve`.

    python bench/serve.py [--index PATH] [-n 30] [--mode hybrid]

INDEX: an index to search (SciFact's: bench/results/scifact.tasksift, built by the other
bench scripts), else the sample corpus indexed into bench/results/sample.tasksift. The same
N queries (SciFact's when INDEX is SciFact's and they are there, else a fixed list, cycled)
are run as a bash loop of N `tasksift search` processes, one query each, written to
/dev/null: first with no service (cold: every process loads the index and the model), then
with `tasksift serve` running on INDEX (each process asks the service). Reported: queries/s
of both and their ratio (targets: >= 10 q/s warm, on this 2-core machine), the service's
start-up time and resident memory, and the latency of a single search through the socket
from a warm client (p50, p95: what the service itself costs, without Python's start-up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_INDEX, QUERIES, RESULTS, ROOT, TASKSIFT, record, row, run_timed

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


def sample_index() -> Path:
    if not (SAMPLE_INDEX / "CURRENT").is_file():
        corpus = ROOT / "sample_corpus"
        done = run_timed([*TASKSIFT, "index", str(corpus), "-i", str(SAMPLE_INDEX), "-q"])
        if done.code != 0:
            sys.exit(f"indexing the sample corpus failed: {done.stderr.strip()}")
    return SAMPLE_INDEX


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


def start_service(index: Path) -> tuple[subprocess.Popen, float]:
    from tasksift.serve.protocol import SearchArgs, ask

    began = time.perf_counter()
    process = subprocess.Popen([*TASKSIFT, "serve", "-i", str(index)], stderr=subprocess.PIPE)
    probe = SearchArgs(str(index), str(index.resolve()), [("1", "warm", 1)], True, 1, "tsv")
    while ask(probe) is None:
        if process.poll() is not None:
            sys.exit(f"the service did not start: {process.stderr.read().decode()}")
        time.sleep(0.05)
    return process, time.perf_counter() - began


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def socket_latencies(index: Path, queries: list[str], mode: str) -> list[float]:
    """Milliseconds per single search through the socket, from this (warm) process."""
    from tasksift.serve.protocol import SearchArgs, ask

    times = []
    for text in queries:
        args = SearchArgs(str(index), str(index.resolve()), [("1", text, 1)], True, 10, "tsv",
                          mode=mode)  # fmt: skip
        began = time.perf_counter()
        reply = ask(args)
        times.append((time.perf_counter() - began) * 1000)
        if reply is None or reply.error:
            sys.exit(f"the service did not answer: {reply}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("-n", type=int, default=30, help="searches per loop")
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    options = parser.parse_args()
    index = options.index or (DEFAULT_INDEX if (DEFAULT_INDEX / "CURRENT").is_file() else None)
    index = (index or sample_index()).resolve()
    described = [*TASKSIFT, "info", "-i", str(index), "-f", "json"]
    info = json.loads(subprocess.run(described, capture_output=True, text=True, check=True).stdout)
    chunks = info["chunks"]
    queries = queries_for(index, options.n)
    row("index", f"{index} ({chunks} chunks)")
    row("searches per loop", f"{len(queries)} ({options.mode})")

    cold = shell_loop(index, queries, options.mode)
    row(
        "cold loop (no service)",
        f"{len(queries) / cold:.2f} q/s ({cold / len(queries):.3f} s each)",
    )
    process, started = start_service(index)
    try:
        row("service start-up, until it answers", f"{started:.2f} s")
        warm = shell_loop(index, queries, options.mode)
        row(
            "loop through the service",
            f"{len(queries) / warm:.2f} q/s ({warm / len(queries):.3f} s each)",
        )
        latencies = socket_latencies(index, queries, options.mode)
        row("service RSS after the loops", f"{rss_mib(process.pid):.0f} MiB")
    finally:
        process.terminate()
        process.wait(timeout=60)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
    row("one search through the socket, p50 / p95", f"{p50:.1f} / {p95:.1f} ms")
    row("speed-up of the loop", f"{cold / warm:.1f}x")
    row(
        f"loop >= {TARGET_QPS:.0f} q/s through the service",
        "yes" if len(queries) / warm >= TARGET_QPS else "no",
    )
    record("cold_qps", len(queries) / cold)
    record("warm_qps", len(queries) / warm)
    record("ratio", cold / warm)
    record("socket_ms", {"p50": p50, "p95": p95, "all": latencies})


if __name__ == "__main__":
    main()
