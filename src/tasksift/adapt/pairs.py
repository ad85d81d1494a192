"""Training pairs (query, relevant passage) for a retrieval adapter: pseudo-queries an
index's own chunks yield, and pairs the user gives.

Pseudo-queries, no judgments needed: a section's heading asks for its first chunk, a
document's title (the top heading) for its first chunk, and a sentence held out of a chunk
(the inverse cloze task) for the rest of that chunk. Pairs a user gives are read from TSV
(``query<TAB>passage``) or JSON Lines (``query`` and ``text``, or ``query`` and the
``doc_id`` of an indexed document, which stands for its first chunk).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tasksift.errors import InputError, first_line
from tasksift.index.reader import LoadedIndex

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
MIN_WORDS, MAX_WORDS = 5, 40  # of a held-out sentence
MIN_REST_WORDS = 20  # what is left of the passage once it is held out
HEADING_SEPARATOR = " > "


@dataclass(frozen=True)
class Pair:
    """A query and a passage it should find; ``group`` keeps pairs of one document apart
    (never two in one batch, never on both sides of the held-out split)."""

    query: str
    text: str
    group: str
    kind: str  # heading, title, sentence, given
    negative: str | None = None  # a passage of another document that ranks high (mined)
    margin: float | None = None  # a teacher's score of text minus its score of negative


def chunk_rows(index: LoadedIndex) -> list[dict[str, str | int | None]]:
    """Every chunk's document, ordinal, section and text, in the index's row order."""
    table = index.sidecar.table(["doc_id", "ordinal", "section", "text"])
    return table.to_pylist()


def pseudo_queries(rows: list[dict], seed: int) -> list[Pair]:
    """Heading, title and held-out sentence pairs from an index's chunks."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        doc, text = str(row["doc_id"]), str(row["text"])
        for pair in _heading_pairs(doc, row.get("section"), text):
            if (doc, pair.query) not in seen:  # the first chunk of each section only
                seen.add((doc, pair.query))
                pairs.append(pair)
        held_out = _held_out_sentence(text, rng)
        if held_out is not None:
            pairs.append(Pair(held_out[0], held_out[1], doc, "sentence"))
    return pairs


def _heading_pairs(doc: str, section: str | None, text: str) -> Iterator[Pair]:
    if not section:
        return
    path = [h.strip() for h in section.split(HEADING_SEPARATOR) if h.strip()]
    if path and len(path[0].split()) >= 2:
        yield Pair(path[0], text, doc, "title")
    if len(path) > 1 and len(path[-1].split()) >= 2:
        yield Pair(path[-1], text, doc, "heading")


def _held_out_sentence(text: str, rng: random.Random) -> tuple[str, str] | None:
    """A sentence of ``text`` and the text without it, or None when none fits."""
    sentences = SENTENCE_END.split(text.strip())
    fitting = [i for i, s in enumerate(sentences) if MIN_WORDS <= len(s.split()) <= MAX_WORDS]
    if len(sentences) < 3 or not fitting:
        return None
    chosen = rng.choice(fitting)
    rest = " ".join(s for i, s in enumerate(sentences) if i != chosen)
    if len(rest.split()) < MIN_REST_WORDS:
        return None
    return sentences[chosen], rest


def read_pairs(path: Path, rows: list[dict]) -> list[Pair]:
    """The pairs in ``path`` (TSV or JSON Lines); InputError names the first bad line."""
    first_chunks: dict[str, str] = {}
    for row in rows:
        first_chunks.setdefault(str(row["doc_id"]), str(row["text"]))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read pairs {path}: {first_line(exc)}") from None
    jsonl = path.suffix.lower() in {".jsonl", ".json"}
    pairs = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            pairs.append(_pair(line, jsonl, first_chunks, f"{path}:{number}"))
    if not pairs:
        raise InputError(f"no pairs in {path}")
    return pairs


def _pair(line: str, jsonl: bool, first_chunks: dict[str, str], where: str) -> Pair:
    if not jsonl:
        query, tab, text = line.partition("\t")
        if not tab or not query.strip() or not text.strip():
            raise InputError(f"{where}: expected query<TAB>passage")
        return Pair(query.strip(), text.strip(), f"given:{text.strip()[:64]}", "given")
    try:
        record = json.loads(line)
        query = str(record["query"]).strip()
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{where}: expected a JSON object with query and text or doc_id") from None
    if "doc_id" in record:
        doc = str(record["doc_id"])
        if doc not in first_chunks:
            raise InputError(f"{where}: document {doc!r} is not in the index")
        return Pair(query, first_chunks[doc], doc, "given")
    text = str(record.get("text") or "").strip()
    if not query or not text:
        raise InputError(f"{where}: expected a non-empty query and text (or doc_id)")
    return Pair(query, text, f"given:{text[:64]}", "given")


def split_held_out(
    pairs: list[Pair], fraction: float, limit: int, seed: int
) -> tuple[list[Pair], list[Pair]]:
    """(training, held out): the pairs of a ``fraction`` of the groups (up to ``limit``
    pairs) are held out for the before/after figure."""
    groups = sorted({p.group for p in pairs})
    random.Random(seed).shuffle(groups)
    chosen = set(groups[: max(1, int(len(groups) * fraction))]) if len(groups) > 1 else set()
    held = [p for p in pairs if p.group in chosen]
    random.Random(seed).shuffle(held)
    return [p for p in pairs if p.group not in chosen], held[:limit]
