"""similar and dupes on large indexes: time and memory as the index grows.

    python bench/tasks_scale.py [--sizes 25000 100000]

For each size, writes an index of that many chunks through the real index writer
(``index.write_generation``) from synthetic unit vectors (four chunks a document), with
200 planted near-duplicate pairs (a document's vectors plus small noise), then times new
`tasksift dupes` and `tasksift similar DOC` processes and reads their peak RSS. Prints the
share of planted pairs found and RSS per chunk, so that linear growth is visible.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import TASKSIFT, row, run_checked, run_timed

DIMENSION = 384
CHUNKS_PER_DOC = 4
PLANTED = 200


def write_index(folder: Path, chunks: int, seed: int = 0) -> None:
    """An index of ``chunks`` synthetic chunks with planted near-duplicate documents."""
    import pyarrow as pa

    from tasksift.index.generations import StagedPart, write_generation
    from tasksift.index.hnsw_file import build_graph
    from tasksift.index.manifest import PARTS_DIR, HnswParams, Manifest, ModelInfo
    from tasksift.index.sidecar import chunk_schema, write_part
    from tasksift.options import ChunkingConfig
    from tasksift.prompts import PromptSet, Task
    from tasksift.vectors.models import DEFAULT_MODEL

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((chunks, DIMENSION)).astype(np.float32)
    documents = chunks // CHUNKS_PER_DOC
    for pair in range(PLANTED):  # document 2p+1 nearly repeats document 2p
        a, b = 2 * pair * CHUNKS_PER_DOC, (2 * pair + 1) * CHUNKS_PER_DOC
        noise = 0.05 * rng.standard_normal((CHUNKS_PER_DOC, DIMENSION)).astype(np.float32)
        vectors[b : b + CHUNKS_PER_DOC] = vectors[a : a + CHUNKS_PER_DOC] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    doc_ids = [f"doc{i // CHUNKS_PER_DOC:07d}.txt" for i in range(chunks)]
    rows = pa.table(
        {
            "label": np.arange(chunks, dtype=np.int64),
            "doc_id": doc_ids,
            "path": doc_ids,
            "ordinal": np.arange(chunks, dtype=np.int32) % CHUNKS_PER_DOC,
            "start": np.zeros(chunks, dtype=np.int64),
            "end": np.full(chunks, 40, dtype=np.int64),
            "text": [
                f"synthetic chunk {i} of a document about topic {i % 97}" for i in range(chunks)
            ],
            "doc_sha256": ["0" * 64] * chunks,
            "doc_size": np.full(chunks, 160, dtype=np.int64),
            "doc_mtime_ns": np.zeros(chunks, dtype=np.int64),
        }
    )
    for name, kind in (("section", pa.string()), ("page", pa.int32()), ("line_start", pa.int64()),
                       ("line_end", pa.int64()), ("reader", pa.string())):  # fmt: skip
        rows = rows.append_column(name, pa.nulls(chunks, kind))
    manifest = Manifest(
        model=ModelInfo(DEFAULT_MODEL, None, None, "synthetic", DIMENSION, 256),
        task=Task.SIMILARITY,
        prompts=PromptSet("", ""),
        chunking=ChunkingConfig(254, 32),
        hnsw=HnswParams(),
        documents=documents,
        chunks=chunks,
        corpus_root="/synthetic",
        vectors_total=chunks,
    )
    rows = rows.append_column("terms", pa.array([[]] * chunks, pa.list_(pa.uint32())))
    pending = folder / ".pending"
    part = write_part(pending / PARTS_DIR, "p0", rows, chunk_schema(manifest))
    write_generation(
        folder, manifest, [StagedPart(part, pending)], build_graph(vectors, manifest.hnsw)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000])
    args = parser.parse_args()
    for chunks in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            index = Path(scratch) / "index"
            write_index(index, chunks)
            dupes = run_checked([*TASKSIFT, "dupes", "-i", str(index), "-f", "jsonl"], "dupes")
            groups = [line for line in dupes.stdout.splitlines() if line.strip()]
            similar = run_timed([*TASKSIFT, "similar", "doc0000000.txt", "-i", str(index),
                                 "-k", "5", "-f", "tsv"])  # fmt: skip
            found = similar.stdout.split("\t")[1] if similar.stdout else "-"
            row(f"{chunks} chunks: dupes s | peak RSS MiB",
                f"{dupes.seconds:.1f} | {dupes.peak_rss_mib:.0f}")  # fmt: skip
            row("  planted pairs found as groups", f"{len(groups)} of {PLANTED}")
            row("  RSS KiB per chunk", f"{1024 * dupes.peak_rss_mib / chunks:.1f}")
            row("  similar s | peak RSS MiB | first hit",
                f"{similar.seconds:.2f} | {similar.peak_rss_mib:.0f} | {found}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
