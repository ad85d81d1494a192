"""Indexing throughput on SciFact: the whole `tasksift index` against bare encoding.

    python bench/indexing.py [--index PATH]

Runs `tasksift index` on the SciFact corpus as a new process (wall time: start-up, model
load, reading, chunking, embedding, graph and write), then encodes the very same chunk texts
with `SentenceTransformer.encode` alone in this process (model load excluded), and prints
chunks/s, tokens/s and their ratio: the pipeline's overhead. Target: ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import DEFAULT_INDEX, ensure_index, require_scifact, row, self_peak_mib

TARGET = 0.9


def _chunks(index: Path) -> tuple[list[str], dict]:
    import pyarrow.parquet as pq

    generation = (index / "CURRENT").read_text().strip()
    table = pq.read_table(index / generation / "chunks.parquet", columns=["text"])
    return table.column("text").to_pylist(), json.loads(table.schema.metadata[b"tasksift"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    require_scifact()
    indexed = ensure_index(args.index, rebuild=True)
    texts, manifest = _chunks(args.index)

    from tasksift.vectors import quiet_transformers

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
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
