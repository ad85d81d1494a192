"""A generation's BM25 matrix opened for scoring: every chunk's score for a query.

The matrix is bm25s's saved index (``data``, ``indices`` and ``indptr`` of a CSC matrix of
precomputed BM25 weights, one column per term, as ``.npy`` files; ``vocab.index.json``
maps terms to columns; ``params.index.json`` holds the row count). It is read here with
numpy alone, memory-mapped: importing bm25s would pull in scipy.sparse and tqdm, a tenth
of a second of every cold search. Scores are bm25s's: the sum of the query terms' columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasksift.errors import CorruptIndexError
from tasksift.lexical.analyzer import Analyzer
from tasksift.lexical.record import LexicalRecord

MATRIX_FILES = ("data", "indices", "indptr")  # bm25s's <name>.csc.index.npy
VOCAB_FILE = "vocab.index.json"  # term -> column, bm25s's
PARAMS_FILE = "params.index.json"  # bm25s's parameters, with the row count


@dataclass(frozen=True)
class LexicalIndex:
    """A generation's BM25 matrix, memory-mapped, with its vocabulary and analyzer."""

    record: LexicalRecord
    columns: dict[str, int]  # term -> column of the matrix
    data: np.ndarray  # float32 BM25 weights, column after column
    indices: np.ndarray  # the row of each weight
    indptr: np.ndarray  # where each column starts in ``data``
    rows: int

    @property
    def analyzer(self) -> Analyzer:
        return self.record.analyzer

    @classmethod
    def open(cls, folder: Path, record: LexicalRecord, rows: int) -> LexicalIndex:
        """Open (memory-mapped) and check against the manifest's record."""
        sizes = {p.name: p.stat().st_size for p in folder.iterdir()} if folder.is_dir() else {}
        if sizes != (record.files or {}):
            raise CorruptIndexError(
                f"lexical index in {folder} does not match its manifest (missing or changed "
                "files); rebuild it with `tasksift index --rebuild`"
            )
        try:
            data, indices, indptr = (
                np.load(folder / f"{name}.csc.index.npy", mmap_mode="r") for name in MATRIX_FILES
            )
            columns = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
            held = int(json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))["num_docs"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptIndexError(f"lexical index in {folder} is unreadable: {exc}") from None
        if held != rows or len(indptr) != len(columns) + 1 or len(data) != len(indices):
            raise CorruptIndexError(
                f"lexical index in {folder} holds {held} chunks and {len(columns)} terms, the "
                f"sidecar {rows} chunks; rebuild it with `tasksift index --rebuild`"
            )
        return cls(record, columns, data, indices, indptr, held)

    def query_terms(self, query: str) -> list[str]:
        """The query's terms that the index knows (repeats kept)."""
        return [t for t in self.analyzer.terms(query) if t in self.columns]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (sidecar order) for ``query``; zeros when no term matches."""
        summed = np.zeros(self.rows, dtype=np.float32)
        for term in self.query_terms(query):  # a repeated term counts again, as in bm25s
            column = self.columns[term]
            span = slice(int(self.indptr[column]), int(self.indptr[column + 1]))
            summed[self.indices[span]] += self.data[span]  # a column holds each row once
        return summed
