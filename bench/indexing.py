"""Indexing throughput on SciFact: the whole `tasksift index` against bare encoding.

    python bench/indexing.py [--index PATH]

Runs `tasksift index` on the SciFact corpus as a new process (wall time: start-up, model
load, reading, chunking, embedding, graph and write), then encodes the very same chunk texts
with `SentenceTransformer.encode` alone in this process (model load excluded), and prints
chunks/s, tokens/s and their ratio: the pipeline's overhead. Target: ratio >= 0.9.

The lexical side: the work a first run spends on it (analyzing each chunk once, and building
and saving the BM25 matrix once, when the run completes: checkpoints keep the terms in
the sidecar parts and build no matrix) is replayed on the same chunks in this process, and
its share of the whole `tasksift index` time is printed (target: <= 10%), with its size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import DEFAULT_INDEX, ensure_index, require_scifact, row, self_peak_mib

TARGET = 0.9
LEXICAL_SHARE = 0.10


def _chunks(index: Path) -> tuple[list[str], dict]:
    from tasksift.index.reader import load_index

    loaded = load_index(index)
    return loaded.column("text").to_pylist(), json.loads(loaded.manifest.to_json())


def lexical_seconds(index: Path) -> tuple[float, int]:
    """Seconds a first run spends on the lexical side, replayed: every chunk analyzed once
    (as the writer does, a batch at a time), the BM25 matrix built once; and its size."""
    import tempfile

    import numpy as np

    from tasksift.index.reader import load_index
    from tasksift.lexical.terms import TermLists, TermStore

    loaded = load_index(index)
    record = loaded.manifest.lexical
    texts = loaded.column("text").to_pylist()
    store = TermStore(record.analyzer, record.bm25)
    began = time.perf_counter()
    rows = [
        ids
        for start in range(0, len(texts), 1024)
        for ids in store.analyze(texts[start : start + 1024])
    ]
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    terms = TermLists(np.concatenate(rows).astype(np.uint32), offsets)
    with tempfile.TemporaryDirectory() as scratch:
        store.write(Path(scratch) / "lexical", terms)
    return time.perf_counter() - began, record.bytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    require_scifact()
    indexed = ensure_index(args.index, rebuild=True)
    texts, manifest = _chunks(args.index)

    from tasksift.vectors.embedder import quiet_transformers

    quiet_transformers()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(manifest["model"]["path"], device="cpu")
    tokens = sum(len(ids) for ids in model.tokenizer(texts)["input_ids"])
    began = time.perf_counter()
    model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
    bare = time.perf_counter() - began

    count = len(texts)
    print(f"SciFact: {manifest['documents']} documents, {count} chunks, {tokens} tokens")
    row("tasksift index (whole command) s", f"{indexed.seconds:.1f}")
    row("  chunks/s | tokens/s", f"{count / indexed.seconds:.1f} | {tokens / indexed.seconds:.0f}")
    row("  peak RSS MiB", f"{indexed.peak_rss_mib:.0f}")
    row("SentenceTransformer.encode alone s", f"{bare:.1f}")
    row("  chunks/s | tokens/s", f"{count / bare:.1f} | {tokens / bare:.0f}")
    row("  peak RSS MiB (this process)", f"{self_peak_mib():.0f}")
    ratio = bare / indexed.seconds
    row("ratio pipeline / bare (chunks/s)", f"{ratio:.3f}  (target >= {TARGET})")
    lexical, size = lexical_seconds(args.index)
    share = lexical / indexed.seconds
    row("lexical side of a first run s (replayed)", f"{lexical:.1f}")
    row("  share of `tasksift index` time", f"{100 * share:.1f}%  (target <= 10%)")
    row("  size on disk MiB", f"{size / 2**20:.1f}")
    return 0 if ratio >= TARGET and share <= LEXICAL_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
