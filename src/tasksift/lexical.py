"""The lexical index: BM25 over the analyzed terms of every chunk, beside the vectors.

It lives in a generation's ``lexical/`` folder and is written, committed and cleaned up
with the graph and the sidecar (see ``index``). Scoring is bm25s's: a sparse matrix of
precomputed BM25 weights, one row per chunk in sidecar (label) order, loaded memory-mapped.
Every chunk's term ids are kept in the sidecar parts (their ``terms`` column), as ids into
the folder's ``vocabulary.json``, so that an update analyzes only new chunks: the matrix is
rebuilt from stored ids, since document frequencies and the mean length change with every
document added or removed. Indexes of format 1 kept them in ``terms.npy`` and
``term_offsets.npy`` instead (``legacy_terms``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasksift.analysis import Analyzer
from tasksift.errors import CorruptIndexError

if TYPE_CHECKING:
    import bm25s
    import pyarrow.parquet as pq

LEXICAL_DIR = "lexical"
TERMS_FILE = "terms.npy"
OFFSETS_FILE = "term_offsets.npy"
VOCAB_FILE = "vocab.index.json"  # bm25s's own name for it
VOCABULARY_FILE = "vocabulary.json"  # the store's: every term ever seen, by id


@dataclass(frozen=True)
class Bm25Params:
    """BM25 as Lucene scores it, with Lucene's default k1 and b."""

    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"


@dataclass(frozen=True)
class LexicalRecord:
    """What the manifest records about the lexical side."""

    analyzer: Analyzer
    bm25: Bm25Params
    engine: str
    terms: int = 0  # distinct terms
    postings: int = 0  # (term, chunk) pairs
    files: dict[str, int] | None = None  # file name -> bytes, checked on load
    matrix: bool = True  # False in a checkpoint: the BM25 matrix is built once complete

    def to_dict(self) -> dict[str, Any]:
        return {
            "analyzer": self.analyzer.to_dict(),
            "bm25": asdict(self.bm25),
            "engine": self.engine,
            "terms": self.terms,
            "postings": self.postings,
            "files": self.files,
            "matrix": self.matrix,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LexicalRecord | None:
        if data is None:
            return None
        return cls(
            analyzer=Analyzer.from_dict(data["analyzer"]),
            bm25=Bm25Params(**data["bm25"]),
            engine=data["engine"],
            terms=int(data.get("terms", 0)),
            postings=int(data.get("postings", 0)),
            files=data.get("files"),
            matrix=bool(data.get("matrix", True)),
        )

    @property
    def bytes(self) -> int:
        return sum((self.files or {}).values())


def engine_name() -> str:
    from importlib.metadata import version

    return f"bm25s {version('bm25s')}"


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

    @classmethod
    def of_parts(cls, files: Sequence[Path]) -> TermLists:
        """The ``terms`` column of sidecar part files, read a part at a time into one array
        (sized from the Parquet metadata), so that memory holds the terms about once."""
        import pyarrow.parquet as pq

        from tasksift.sidecar import to_numpy

        bound = sum(_values_in(pq.ParquetFile(path).metadata, "terms") for path in files)
        ids = np.empty(bound, dtype=np.uint32)
        counts, filled = [], 0
        for path in files:
            for chunk in pq.read_table(path, columns=["terms"]).column(0).chunks:
                offsets = to_numpy(chunk.offsets)
                values = to_numpy(chunk.values)[offsets[0] : offsets[-1]]
                ids[filled : filled + len(values)] = values
                filled += len(values)
                counts.append(np.diff(offsets))
        lengths = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
        return cls(ids[:filled], np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


def _values_in(metadata: pq.FileMetaData, column: str) -> int:
    """How many values (list elements, and a slot per empty list) a column holds."""
    total = 0
    for group in range(metadata.num_row_groups):
        chunks = metadata.row_group(group)
        for i in range(chunks.num_columns):
            if chunks.column(i).path_in_schema.split(".")[0] == column:
                total += chunks.column(i).num_values
    return total


def legacy_terms(folder: Path) -> TermLists:
    """The term ids a format 1 lexical folder holds, in sidecar order."""
    try:
        return TermLists(np.load(folder / TERMS_FILE), np.load(folder / OFFSETS_FILE))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"lexical index in {folder} is unreadable: {exc}") from None


MATRIX_BLOCK_POSTINGS = 1 << 23  # postings sorted at a time while building the matrix


def bm25_matrix(
    ids: np.ndarray, offsets: np.ndarray, terms: int, params: Bm25Params
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bm25s's CSC score matrix (documents x terms) of rows of term ids, built with numpy.

    The same scores as ``bm25s.BM25.index`` (its own idf and term-frequency functions),
    computed a block of terms at a time instead of a document at a time, so that a
    million chunks take seconds and memory in proportion to their postings.
    """
    from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

    rows = len(offsets) - 1
    lengths = np.diff(offsets).astype(np.float32)
    average = float(lengths.mean()) if rows else 0.0
    per_term = np.bincount(ids, minlength=terms)
    tfc, idf_of = _select_tfc_scorer(params.method), _select_idf_scorer(params.method)
    # at most a (term, row) pair a posting: filled block by block, sliced at the end
    data, indices = np.empty(len(ids), np.float32), np.empty(len(ids), np.int32)
    counts, filled = np.zeros(terms, dtype=np.int64), 0
    below, above = np.empty(len(ids), dtype=bool), np.empty(len(ids), dtype=bool)
    bounds = _term_blocks(per_term)
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        np.less(ids, last, out=below)
        np.greater_equal(ids, first, out=above)
        where = np.flatnonzero(np.logical_and(below, above, out=below))
        row_of = np.searchsorted(offsets, where, side="right") - 1
        keys = (ids[where].astype(np.int64) - first) * max(rows, 1) + row_of
        del where, row_of
        keys.sort()
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        tf = np.diff(np.r_[starts, len(keys)]).astype(np.float32)
        term, row = np.divmod(keys[starts], max(rows, 1))
        df = np.bincount(term, minlength=last - first)
        distinct = np.unique(df[df > 0])
        idf = np.zeros(last - first, dtype=np.float32)
        for value in distinct:  # few distinct frequencies: bm25s's scalar idf for each
            idf[df == value] = idf_of(int(value), N=rows)
        score = idf[term] * tfc(
            tf_array=tf, l_d=lengths[row], l_avg=average, k1=params.k1, b=params.b
        )
        data[filled : filled + len(score)] = score
        indices[filled : filled + len(row)] = row
        filled += len(score)
        counts[first:last] = df
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return data[:filled], indices[:filled], indptr


def _term_blocks(per_term: np.ndarray) -> list[int]:
    """Term id bounds of blocks holding about ``MATRIX_BLOCK_POSTINGS`` postings each."""
    cumulative = np.cumsum(per_term)
    total = int(cumulative[-1]) if len(cumulative) else 0
    cuts = np.searchsorted(
        cumulative, np.arange(MATRIX_BLOCK_POSTINGS, total, MATRIX_BLOCK_POSTINGS)
    )
    return sorted({0, *(int(c) + 1 for c in cuts), len(per_term)})


class LexicalIndex:
    """A generation's BM25 index, opened for searching."""

    def __init__(self, retriever: bm25s.BM25, record: LexicalRecord) -> None:
        self.retriever = retriever
        self.record = record
        self.analyzer = record.analyzer

    @classmethod
    def open(cls, folder: Path, record: LexicalRecord, rows: int) -> LexicalIndex:
        """Load (memory-mapped) and check against the manifest's record."""
        import bm25s

        sizes = {p.name: p.stat().st_size for p in folder.iterdir()} if folder.is_dir() else {}
        if sizes != (record.files or {}):
            raise CorruptIndexError(
                f"lexical index in {folder} does not match its manifest (missing or changed "
                "files); rebuild it with `tasksift index --rebuild`"
            )
        try:
            retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)
        except Exception as exc:
            raise CorruptIndexError(f"lexical index in {folder} is unreadable: {exc}") from None
        if retriever.scores["num_docs"] != rows:
            raise CorruptIndexError(
                f"lexical index in {folder} holds {retriever.scores['num_docs']} chunks, the "
                f"sidecar {rows}; rebuild it with `tasksift index --rebuild`"
            )
        return cls(retriever, record)

    def query_terms(self, query: str) -> list[str]:
        """The query's terms that the index knows (repeats kept)."""
        vocabulary = self.retriever.vocab_dict
        return [t for t in self.analyzer.terms(query) if t in vocabulary]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (sidecar order) for ``query``; zeros when no term matches."""
        terms = self.query_terms(query)
        if not terms:
            return np.zeros(self.retriever.scores["num_docs"], dtype=np.float32)
        matrix = self.retriever.scores
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        summed = np.zeros(matrix["num_docs"], dtype=np.float32)
        for term in terms:  # bm25s's sum of the terms' columns (a repeated term counts again)
            column = self.retriever.vocab_dict[term]
            span = slice(int(indptr[column]), int(indptr[column + 1]))
            summed[indices[span]] += data[span]  # a column holds each row once
        return summed
