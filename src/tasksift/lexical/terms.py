"""The term store: the analyzer with a vocabulary whose ids only grow.

Every chunk's term ids are kept in the sidecar parts (their ``terms`` column) as ids into
the store's ``vocabulary.json``, so that an update analyzes only new chunks: the BM25
matrix is rebuilt from stored ids, since document frequencies and the mean length change
with every document added or removed. Indexes of format 1 kept them in ``terms.npy`` and
``term_offsets.npy`` instead (``legacy_terms``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tasksift.errors import CorruptIndexError
from tasksift.lexical.analyzer import Analyzer

if TYPE_CHECKING:
    pass
from tasksift.lexical.matrix import bm25_matrix
from tasksift.lexical.record import Bm25Params, LexicalRecord, engine_name

TERMS_FILE = "terms.npy"
OFFSETS_FILE = "term_offsets.npy"
VOCAB_FILE = "vocab.index.json"  # bm25s's own name for it
VOCABULARY_FILE = "vocabulary.json"  # the store's: every term ever seen, by id


class TermStore:
    """The analyzer with its vocabulary: term ids that only grow, so that the ids stored
    in the sidecar parts (their ``terms`` column) stay valid as the index changes.

    The writer analyzes each new chunk once (``analyze``); ``write`` saves the vocabulary
    and, for a complete generation, builds the BM25 matrix of every part's terms.
    """

    def __init__(self, analyzer: Analyzer, params: Bm25Params) -> None:
        self.analyzer = analyzer
        self.params = params
        self.vocabulary: list[str] = []
        self._ids: dict[str, int] = {}

    @classmethod
    def load(cls, folder: Path, record: LexicalRecord) -> TermStore:
        """The store of a generation's ``lexical/`` folder."""
        store = cls(record.analyzer, record.bm25)
        try:
            if (folder / VOCABULARY_FILE).is_file():
                store.vocabulary = json.loads((folder / VOCABULARY_FILE).read_text("utf-8"))
            else:  # format 1: the matrix's vocabulary is the store's
                legacy = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
                store.vocabulary = sorted(legacy, key=legacy.__getitem__)
        except (OSError, ValueError) as exc:
            raise CorruptIndexError(f"lexical index in {folder} is unreadable: {exc}") from None
        store._ids = {term: i for i, term in enumerate(store.vocabulary)}
        return store

    def analyze(self, texts: Iterable[str]) -> list[np.ndarray]:
        """The term ids of each text; new terms join the vocabulary."""
        ids, rows = self._ids, []
        for terms in self.analyzer.terms_of_all(texts):
            row = np.empty(len(terms), dtype=np.uint32)
            for i, term in enumerate(terms):
                found = ids.get(term)
                if found is None:
                    found = ids[term] = len(self.vocabulary)
                    self.vocabulary.append(term)
                row[i] = found
            rows.append(row)
        return rows

    def write(self, folder: Path, terms: TermLists | None) -> LexicalRecord:
        """Save the vocabulary to ``folder`` and, given every row's ``terms``, the BM25
        matrix of those rows (sidecar order); without them the side is incomplete."""
        folder.mkdir()
        (folder / VOCABULARY_FILE).write_text(
            json.dumps(self.vocabulary, ensure_ascii=False), encoding="utf-8"
        )
        postings, distinct = 0, 0
        if terms is not None:
            postings, distinct = self._write_matrix(folder, terms)
        return LexicalRecord(
            analyzer=self.analyzer,
            bm25=self.params,
            engine=engine_name(),
            terms=distinct,
            postings=postings,
            files={p.name: p.stat().st_size for p in sorted(folder.iterdir())},
            matrix=terms is not None,
        )

    def _write_matrix(self, folder: Path, terms: TermLists) -> tuple[int, int]:
        import bm25s

        used = np.zeros(max(len(self.vocabulary), 1), dtype=bool)
        used[terms.ids] = True
        vocabulary = {self.vocabulary[int(i)]: n for n, i in enumerate(np.flatnonzero(used))}
        if not vocabulary:  # every chunk was stopwords only: keep the matrix well formed
            vocabulary = {"": 0}
        remap = (np.cumsum(used, dtype=np.int64) - 1).astype(np.uint32)
        compact = np.take(remap, terms.ids, out=terms.ids)  # in place: memory is the limit
        data, indices, indptr = bm25_matrix(compact, terms.offsets, len(vocabulary), self.params)
        retriever = bm25s.BM25(k1=self.params.k1, b=self.params.b, method=self.params.method)
        retriever.scores = {
            "data": data,
            "indices": indices,
            "indptr": indptr,
            "num_docs": len(terms.offsets) - 1,
        }
        retriever.vocab_dict = vocabulary
        retriever.nonoccurrence_array = None
        retriever.save(str(folder), show_progress=False)
        return int(len(data)), len(vocabulary)


@dataclass(frozen=True)
class TermLists:
    """Every row's term ids, flat: row ``r`` has ``ids[offsets[r]:offsets[r + 1]]``."""

    ids: np.ndarray  # uint32
    offsets: np.ndarray  # int64, rows + 1


def legacy_terms(folder: Path) -> TermLists:
    """The term ids a format 1 lexical folder holds, in sidecar order."""
    try:
        return TermLists(np.load(folder / TERMS_FILE), np.load(folder / OFFSETS_FILE))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"lexical index in {folder} is unreadable: {exc}") from None
