"""Compare lexical (BM25) engines on SciFact: bm25s, SQLite FTS5 and tantivy.

    python experiments/lexical_engines.py [--scifact PATH] [--repeats 3] [--cold-runs 5]

Needs `pip install bm25s PyStemmer tantivy ir-measures`; an engine whose package is missing
is skipped with a note. Each document is indexed as title + " " + text. Per engine it prints
the build time, size on disk, import time of the engine module alone, the time from spawning
a fresh interpreter to its first answered query (median of fresh processes; the OS page cache
is warm), warm queries/s over the 300 queries (top-100, query tokenisation included),
nDCG@10, Recall@100, and the cost of changing one document in an existing index.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from functools import reduce
from importlib.util import find_spec
from pathlib import Path

K = 100
DEFAULT_SCIFACT = Path(__file__).resolve().parents[1].parent / "shared/collections/scifact"
# Lucene's English stop set, the list behind bm25s "en" and tantivy "english".
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
COLUMNS = "engine build_s disk_mib import_s cold_first_query_s qps ndcg@10 recall@100 notes"
Docs = list[tuple[str, str]]
Hits = list[list[tuple[str, float]]]


class Bm25s:
    module, requires = "bm25s", ("bm25s", "Stemmer")
    note = "Snowball+stop; no incremental API, +1 doc = full rebuild"

    def __init__(self, mmap: bool = False) -> None:
        import bm25s
        import Stemmer

        self.bm25s, self.mmap, self.stemmer = bm25s, mmap, Stemmer.Stemmer("english")

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        return self.bm25s.tokenize(
            texts, stopwords="en", stemmer=self.stemmer, return_ids=False, show_progress=False
        )

    def build(self, docs: Docs, path: Path) -> str:
        began = time.perf_counter()
        tokens = self._tokenize([text for _, text in docs])
        tokenized = time.perf_counter()
        retriever = self.bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        indexed = time.perf_counter()
        retriever.save(str(path), show_progress=False)
        (path / "ids.json").write_text(json.dumps([doc_id for doc_id, _ in docs]))
        return f"tokenize {tokenized - began:.2f}s + index {indexed - tokenized:.2f}s"

    def open(self, path: Path) -> None:
        self.retriever = self.bm25s.BM25.load(str(path), mmap=self.mmap, show_progress=False)
        self.ids = json.loads((path / "ids.json").read_text())

    def search(self, queries: list[str], k: int) -> Hits:
        rows, scores = self.retriever.retrieve(self._tokenize(queries), k=k, show_progress=False)
        # retrieve always returns k documents, padded with score-0 ones: drop those
        pairs = [
            zip(r.tolist(), s.tolist(), strict=True) for r, s in zip(rows, scores, strict=True)
        ]
        return [[(self.ids[i], score) for i, score in row if score > 0] for row in pairs]

    def update(self, docs: Docs, path: Path) -> None:
        shutil.rmtree(path)
        path.mkdir()
        self.build(docs, path)


class Fts5:
    module, requires = "sqlite3", ("sqlite3",)
    note = "Porter, not Snowball; stopwords dropped from queries only; stores text; DELETE+INSERT"
    create = (
        "CREATE VIRTUAL TABLE docs USING fts5(doc_id UNINDEXED, body, tokenize='porter unicode61')"
    )
    select = "SELECT doc_id, -bm25(docs) FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?"

    def __init__(self) -> None:
        import sqlite3

        self.sqlite3 = sqlite3

    def build(self, docs: Docs, path: Path) -> str:
        with closing(self.sqlite3.connect(path / "fts.db")) as con, con:
            con.execute(self.create)
            con.executemany("INSERT INTO docs VALUES (?, ?)", docs)
        return ""

    def open(self, path: Path) -> None:
        self.con = self.sqlite3.connect(path / "fts.db")

    def search(self, queries: list[str], k: int) -> Hits:
        out = []
        for query in queries:  # quoted OR terms: no FTS5 query syntax from the text
            words = [w for w in re.findall(r"\w+", query.lower()) if w not in STOPWORDS]
            match = " OR ".join(f'"{w}"' for w in words)
            out.append(self.con.execute(self.select, (match, k)).fetchall() if match else [])
        return out

    def update(self, docs: Docs, path: Path) -> None:
        with closing(self.sqlite3.connect(path / "fts.db")) as con, con:
            con.execute("DELETE FROM docs WHERE doc_id = ?", (docs[0][0],))
            con.execute("INSERT INTO docs VALUES (?, ?)", docs[0])


class Tantivy:
    module, requires = "tantivy", ("tantivy",)

    def __init__(self, stopwords: bool) -> None:
        import tantivy

        self.tv, self.stopwords = tantivy, stopwords
        self.tokenizer = "en_stem_stop" if stopwords else "en_stem"
        analyzer = "custom analyzer: Snowball+stop" if stopwords else "built-in en_stem: no stop"
        self.note = f"{analyzer}; delete_documents_by_term+add+commit"

    def _index(self, path: Path, create: bool = False):  # -> tantivy.Index
        tv = self.tv
        if create:
            schema = tv.SchemaBuilder()
            schema.add_text_field("id", stored=True, tokenizer_name="raw")
            schema.add_text_field("body", tokenizer_name=self.tokenizer)
        index = tv.Index(schema.build(), path=str(path)) if create else tv.Index.open(str(path))
        if self.stopwords:  # a custom analyzer is not persisted: register it on every open
            f = tv.Filter
            steps = (f.remove_long(40), f.lowercase(), f.stopword("english"), f.stemmer("english"))
            start = tv.TextAnalyzerBuilder(tv.Tokenizer.simple())
            analyzer = reduce(lambda builder, step: builder.filter(step), steps, start)
            index.register_tokenizer(self.tokenizer, analyzer.build())
        return index

    def _write(self, index, docs: Docs, replace: bool) -> None:
        writer = index.writer(num_threads=1)
        for doc_id, body in docs:
            if replace:
                writer.delete_documents_by_term("id", doc_id)
            writer.add_document(self.tv.Document(id=doc_id, body=body))
        writer.commit()
        writer.wait_merging_threads()

    def build(self, docs: Docs, path: Path) -> str:
        self._write(self._index(path, create=True), docs, replace=False)
        return ""

    def open(self, path: Path) -> None:
        self.index = self._index(path)
        self.searcher = self.index.searcher()

    def search(self, queries: list[str], k: int) -> Hits:
        out = []
        for text in queries:  # lowercased, punctuation gone: no AND/OR/NOT, field: or -term
            query = self.index.parse_query(re.sub(r"[^\w\s]", " ", text.lower()), ["body"])
            hits = self.searcher.search(query, k).hits
            out.append([(self.searcher.doc(addr)["id"][0], score) for score, addr in hits])
        return out

    def update(self, docs: Docs, path: Path) -> None:
        self._write(self._index(path), docs[:1], replace=True)


ENGINES: dict[str, tuple[type[Bm25s | Fts5 | Tantivy], dict[str, bool]]] = {
    "bm25s": (Bm25s, {}),
    "bm25s-mmap": (Bm25s, {"mmap": True}),
    "sqlite-fts5": (Fts5, {}),
    "tantivy-stop": (Tantivy, {"stopwords": True}),
    "tantivy-en_stem": (Tantivy, {"stopwords": False}),
}


def make(name: str) -> Bm25s | Fts5 | Tantivy:
    cls, options = ENGINES[name]
    return cls(**options)


def load_scifact(root: Path) -> tuple[Docs, dict[str, str], dict[str, dict[str, int]]]:
    with gzip.open(root / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        docs = [(d["_id"], f"{d['title']} {d['text']}") for d in map(json.loads, lines)]
    with open(root / "queries.jsonl", encoding="utf-8") as lines:
        queries = {q["_id"]: q["text"] for q in map(json.loads, lines)}
    qrels: dict[str, dict[str, int]] = {}
    for line in (root / "qrels.tsv").read_text().splitlines()[1:]:
        qid, did, rel = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(rel)
    return docs, {q: queries[q] for q in qrels}, qrels


def median_runs(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def child_output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def import_seconds(module: str, runs: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return statistics.median(float(child_output([sys.executable, "-c", code])) for _ in range(runs))


def cold_first_query(name: str, path: Path, query: str, runs: int) -> float:
    """Wall time from spawning a fresh interpreter to its first answered query."""
    times = []
    for _ in range(runs):
        began = time.time()
        answered = child_output([sys.executable, __file__, "--cold", name, str(path), query])
        times.append(float(answered.split()[-1]) - began)
    return statistics.median(times)


def cold_child(name: str, path: str, query: str) -> None:
    engine = make(name)
    engine.open(Path(path))
    print(len(engine.search([query], K)[0]), time.time())


def quality(hits: Hits, qids: list[str], qrels: dict[str, dict[str, int]]) -> tuple[float, float]:
    import ir_measures
    from ir_measures import R, nDCG

    run = {qid: dict(h) for qid, h in zip(qids, hits, strict=True)}
    scores = ir_measures.calc_aggregate([nDCG @ 10, R @ K], qrels, run)
    return scores[nDCG @ 10], scores[R @ K]


def bench(name: str, data: tuple, work: Path, args: argparse.Namespace) -> list[str]:
    docs, queries, qrels = data
    engine = make(name)
    builds, notes = [], []
    for i in range(args.repeats):
        path = work / f"{name}-{i}"
        path.mkdir()
        began = time.perf_counter()
        notes.append(engine.build(docs, path))
        builds.append(time.perf_counter() - began)
    mib = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
    engine.open(path)
    texts = list(queries.values())
    ndcg, recall = quality(engine.search(texts, K), list(queries), qrels)
    qps = len(texts) / median_runs(lambda: engine.search(texts, K), args.repeats)
    cold = cold_first_query(name, path, texts[0], args.cold_runs)
    imported = import_seconds(engine.module, args.cold_runs)
    changed = [(docs[0][0], docs[0][1] + " revised"), *docs[1:]]
    update = median_runs(lambda: engine.update(changed, path), args.repeats)
    numbers = [statistics.median(builds), mib, imported, cold, qps, 100 * ndcg, 100 * recall]
    cells = [f"{v:.{p}f}" for v, p in zip(numbers, (2, 1, 3, 3, 0, 2, 2), strict=True)]
    note = "; ".join(filter(None, [f"+1 doc {update:.3f}s", engine.note, notes[-1]]))
    return [name, *cells, note]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", type=Path, default=DEFAULT_SCIFACT)
    parser.add_argument("--repeats", type=int, default=3, help="builds, warm passes, updates")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per engine")
    parser.add_argument("--engines", nargs="*", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--cold", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:
        return cold_child(*args.cold)
    data = load_scifact(args.scifact)
    print(f"SciFact: {len(data[0])} docs, {len(data[1])} queries, top-{K}; {sys.executable}")
    rows = [COLUMNS.split()]
    with tempfile.TemporaryDirectory(prefix="lexbench-") as work:
        for name in args.engines:
            missing = [m for m in (*ENGINES[name][0].requires, "ir_measures") if not find_spec(m)]
            if missing:
                print(f"skipping {name}: {', '.join(missing)} not installed")
                continue
            rows.append(bench(name, data, Path(work), args))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1])


if __name__ == "__main__":
    main()
