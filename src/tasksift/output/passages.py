"""Passages: the query words worth showing, and the part of a chunk that holds them.

A word here is three or more word characters, lowercased; a chunk's word matches a query
word when it is that word or begins with its first five letters (all four of a four-letter
word): ``floods`` and ``flooding``. This is for showing, not scoring: the lexical side's
terms come from the index's analyzer (``lexical.analyzer``), which ``--explain`` shows.
"""

from __future__ import annotations

import re

SNIPPET_CHARS = 240
_WORD = re.compile(r"\w{3,}")
# fmt: off
_STOPWORDS = frozenset([
    "the", "and", "for", "are", "was", "were", "with", "that", "this", "from", "what",
    "which", "how", "does", "why", "who", "when", "where", "can", "could", "should", "would",
    "will", "into", "onto", "about", "your", "you", "our", "their", "there", "them", "then",
    "than",
])
# fmt: on


def query_terms(query: str) -> list[str]:
    """Words of the query worth highlighting in snippets."""
    return [w for w in _WORD.findall(query.lower()) if w not in _STOPWORDS]


_PIECE = re.compile(r"[^\n.!?]*(?:[.!?]+|\n|$)")


def best_passage_start(text: str, terms: list[str]) -> int:
    """Offset of the sentence or line of ``text`` that holds the most query terms (the
    first one on ties; 0 when none holds any). A word holds a term when it is the term or
    shares its stem-like prefix of up to 5 letters, 4 at least (erosion, eroding)."""
    wanted = [(term, min(len(term), 5)) for term in set(terms)]
    best, best_count = 0, 0
    for piece in _PIECE.finditer(text):
        words = set(_WORD.findall(piece.group().lower()))
        heads = {n: {w[:n] for w in words if len(w) >= n} for n in (4, 5)}
        count = sum(t in words or (n >= 4 and t[:n] in heads[n]) for t, n in wanted)
        if count > best_count:
            best, best_count = piece.start(), count
    return best


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """A one-line window of ``text`` of about ``width`` characters that starts at its
    best-matching sentence or line (see ``best_passage_start``)."""
    start = best_passage_start(text, terms)
    before, after = " ".join(text[:start].split()), " ".join(text[start:].split())
    if len(before) + len(after) + 1 <= width:
        return f"{before} {after}".strip()
    if len(after) < width:  # near the end: show the end of the chunk
        flat = f"{before} {after}".strip()
        window = flat[len(flat) - width :]
        return "… " + window[window.find(" ") + 1 :]
    window = after[:width].rsplit(" ", 1)[0]
    return ("… " if before else "") + window + " …"
