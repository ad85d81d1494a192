"""Does putting the document title and section path in front of a chunk help retrieval?

    python experiments/section_context.py

On the corpus of bench/formats.py (R's manuals as PDF, Python's tutorial, HOWTOs and FAQ
as HTML; run that first), every chunk is embedded twice with the default model: as it is,
and as ``title > section path`` + a blank line + the chunk (the title is the file's name
without its suffix when the file names none). Both are searched exactly for the queries of
bench/formats_queries.tsv, documents ranked by their best chunk; success@5 and MRR@10 of
each are printed side by side. tasksift keeps the prefix only if it helps.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))  # bench's helpers

from common import row  # noqa: E402
from formats import CORPUS, QUERIES  # noqa: E402


def _chunks() -> tuple[list[str], list[str], list[str]]:
    """doc ids, plain chunk texts and prefixed chunk texts, from the real readers and
    chunker."""
    from tokenizers import Tokenizer

    from tasksift.chunks import Chunker
    from tasksift.documents import ReadReport, iter_text_files, read_document
    from tasksift.options import ChunkingConfig
    from tasksift.vectors.models import DEFAULT_MODEL, locate_model

    model = locate_model(DEFAULT_MODEL).path
    chunker = Chunker(Tokenizer.from_file(str(model / "tokenizer.json")), 256, "")
    config = ChunkingConfig(chunker.budget, 32)
    ids, plain, prefixed = [], [], []
    for path in iter_text_files(CORPUS):
        document = read_document(path, CORPUS, ReadReport())
        if document is None:
            continue
        title = Path(document.doc_id).stem
        for chunk in chunker.chunk(document, config):
            context = " > ".join(p for p in (title, chunk.section) if p)
            ids.append(document.doc_id)
            plain.append(chunk.text)
            prefixed.append(f"{context}\n\n{chunk.text}")
    return ids, plain, prefixed


def _scores(ranked: list[list[str]], expected: list[str]) -> tuple[float, float]:
    pairs = list(zip(ranked, expected, strict=True))
    success = np.mean([any(d.startswith(e) for d in r[:5]) for r, e in pairs])
    reciprocal = [
        next((1 / i for i, d in enumerate(r[:10], 1) if d.startswith(e)), 0.0) for r, e in pairs
    ]
    return float(success), float(np.mean(reciprocal))


def _rank(doc_ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray) -> list[list[str]]:
    ranked = []
    for scores in queries @ vectors.T:
        order = np.argsort(-scores, kind="stable")
        ranked.append(list(dict.fromkeys(doc_ids[order[:200]]))[:10])
    return ranked


def main() -> int:
    if not CORPUS.is_dir():
        sys.exit("run bench/formats.py first: it assembles the corpus")
    from sentence_transformers import SentenceTransformer

    from tasksift.vectors.models import DEFAULT_MODEL, locate_model

    pairs = [
        line.split("\t", 1)
        for line in QUERIES.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    expected, texts = [e for e, _ in pairs], [q for _, q in pairs]
    ids, plain, prefixed = _chunks()
    model = SentenceTransformer(str(locate_model(DEFAULT_MODEL).path), device="cpu")
    queries = model.encode(texts, normalize_embeddings=True)
    doc_ids = np.asarray(ids, dtype=object)
    print(f"{len(set(ids))} documents, {len(ids)} chunks, {len(texts)} queries")
    for name, chunks in (("chunk text only", plain), ("title > section + chunk", prefixed)):
        vectors = model.encode(chunks, batch_size=32, normalize_embeddings=True)
        success, mrr = _scores(_rank(doc_ids, vectors, queries), expected)
        row(f"{name}: success@5 | MRR@10", f"{100 * success:.1f}% | {mrr:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
