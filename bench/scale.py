"""Scale: indexing and search at 10k, 100k and 1M chunks, so that growth is visible.

    python bench/scale.py [--sizes 10k,100k,1M] [--work DIR] [--repeat 5] [--keep]

For each size, writes a synthetic corpus of files (``--work``, default
bench/results/scale): English-like text drawn from the word frequencies of the SciFact
abstracts (a seeded Zipfian unigram model, with topic words per document and per paragraph,
sentences, commas, numbers and paragraphs). Up to 100k chunks, one file a chunk
(10k -> 10,000 files, 100k -> 100,000 files); above, 100,000 files of several chunks each
(1M -> about 10 chunks a file). Files are sized in tokens of the model's own tokenizer
(calibrated on a sample), 1,000 to a folder.

The index is built in a child process through the real writer (``pipeline.build_index``
with the real MiniLM: its tokenizer chunks, its query encoder is exported to ONNX) with one
thing replaced: ``embed_chunks`` returns synthetic unit vectors, a fixed random projection of
each chunk's idf-weighted, hashed word counts (chunks that share words get nearby vectors, so
the graph has a realistic structure). No model is run on the documents. The child's peak
RSS is the indexing RSS; it also times the writer's commits (checkpoints).

Then, on that index:

* cold search: the median wall time of ``tasksift search QUERY --index DIR -f json`` as a
  new process, over ``--repeat`` runs with different SciFact claims as queries (one untimed
  run first, so the OS file cache is warm as it is after indexing), and its peak RSS
  (the largest of the runs);
* batch: ``tasksift search --queries FILE -f jsonl`` with 200 queries as one new process;
  queries/s = 200 / its wall time, and net of start-up (minus a 1-query batch process);
* the index folder's size on disk (the exported ONNX query encoder, about 90 MiB whatever
  the size, included; printed apart as well), and the indexing run's peak RSS;
* a no-op ``tasksift index CORPUS --index DIR`` (nothing changed): wall time and peak RSS.

Prints one line per size,
``chunks=N cold_search_s=X batch_qps=Y search_rss_mib=Z index_mib=W index_rss_mib=V``,
followed by ``#`` lines with the other figures, then each size's ratios against the smallest
size of the run, and the issue's targets at 1M chunks (exit 1 if one is missed).
``--keep`` reuses the corpora and indexes a previous run left in ``--work`` (and their
indexing figures) instead of writing them again.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import statistics
import sys
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from common import CORPUS, QUERIES, RESULTS, TASKSIFT, CommitTimer, require_scifact, run_checked

SEED = 20240612
DEFAULT_SIZES = "10k,100k,1M"
DEFAULT_WORK = RESULTS / "scale"
FILES_MAX = 100_000  # above this many chunks, files get several chunks each
PER_FOLDER = 1_000
BATCH_QUERIES = 200
MIN_WORD_COUNT = 3  # vocabulary: SciFact words seen at least this often
TOPICS = 1_000
TOPIC_WORDS = 30
MAIN_TOPIC_SHARE = 0.30  # words drawn from the document's topic
PARAGRAPH_TOPIC_SHARE = 0.10  # words drawn from the paragraph's topic
NUMBER_SHARE = 0.015
COMMA_SHARE = 0.06
SINGLE_CHUNK_WORDS = (150, 200)  # words of a one-chunk file, capped by the token budget
HASH_BUCKETS = 8_192  # synthetic embedding: words hashed into this many projection rows
WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
TARGETS = {  # at 1M chunks (issue 12)
    "cold_search_s": ("<=", 1.5),
    "search_rss_mib": ("<=", 2.5 * 1024),
    "batch_qps": (">=", 100.0),
    "index_rss_mib": ("<=", 4.0 * 1024),
}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 10k, 100k, 1M, 2500)")
    factor = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(float(match.group(1)) * factor)


def size_name(chunks: int) -> str:
    if chunks % 1_000_000 == 0:
        return f"{chunks // 1_000_000}M"
    if chunks % 1_000 == 0:
        return f"{chunks // 1_000}k"
    return str(chunks)


# -- vocabulary and text -----------------------------------------------------------------------


def write_vocabulary(path: Path) -> None:
    """Word counts of the SciFact abstracts (lower-case words), most frequent first."""
    import gzip

    counts: Counter[str] = Counter()
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            counts.update(re.findall(r"[a-z]+", f"{record['title']} {record['text']}".lower()))
    kept = [(w, c) for w, c in counts.most_common() if c >= MIN_WORD_COUNT]
    path.write_text("".join(f"{w}\t{c}\n" for w, c in kept), encoding="utf-8")


def read_vocabulary(path: Path) -> tuple[list[str], np.ndarray]:
    pairs = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    return [w for w, _ in pairs], np.array([int(c) for _, c in pairs], dtype=np.float64)


class TextModel:
    """Seeded English-like text: Zipfian words (real frequencies) with topics, in sentences."""

    def __init__(self, vocabulary: Path, seed: int) -> None:
        words, counts = read_vocabulary(vocabulary)
        self.words = np.array(words, dtype=object)
        self.capitalized = np.array([w.capitalize() for w in words], dtype=object)
        self.cdf = np.cumsum(counts / counts.sum())
        self.cdf[-1] = 1.0
        rng = np.random.default_rng(seed)
        # Topic words: from the middle of the frequency range, as content words are.
        middle = np.arange(min(150, len(words) // 10), len(words))
        self.topics = rng.choice(middle, size=(TOPICS, TOPIC_WORDS))

    def document(self, rng: np.random.Generator, n_words: int) -> str:
        ids = np.searchsorted(self.cdf, rng.random(n_words))
        paragraph_lengths = rng.integers(90, 220, size=n_words // 90 + 1)
        paragraph = np.repeat(np.arange(len(paragraph_lengths)), paragraph_lengths)[:n_words]
        draw = rng.random(n_words)
        main = draw < MAIN_TOPIC_SHARE
        ids[main] = self.topics[rng.integers(TOPICS), rng.integers(TOPIC_WORDS, size=main.sum())]
        local = (draw >= MAIN_TOPIC_SHARE) & (draw < MAIN_TOPIC_SHARE + PARAGRAPH_TOPIC_SHARE)
        paragraph_topics = rng.integers(TOPICS, size=len(paragraph_lengths))
        ids[local] = self.topics[
            paragraph_topics[paragraph[local]], rng.integers(TOPIC_WORDS, size=local.sum())
        ]
        text = self.words[ids]
        numbers = np.flatnonzero(rng.random(n_words) < NUMBER_SHARE)
        text[numbers] = [_number(rng) for _ in numbers]
        ends = np.cumsum(rng.integers(6, 28, size=n_words // 6 + 1))
        ends = np.append(ends[ends < n_words] - 1, n_words - 1)
        starts = np.append(0, ends[:-1] + 1)
        text[starts] = [w.capitalize() for w in text[starts]]
        commas = np.flatnonzero(rng.random(n_words) < COMMA_SHARE)
        text[commas] = text[commas] + ","
        text[ends] = text[ends] + "."
        separators = np.full(n_words, " ", dtype=object)
        breaks = ends[np.flatnonzero(np.diff(paragraph[ends], append=-1))]
        separators[breaks] = "\n\n"
        separators[-1] = "\n"
        joined = np.empty(2 * n_words, dtype=object)
        joined[0::2] = text
        joined[1::2] = separators
        return "".join(joined.tolist())


def _number(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return str(int(rng.integers(1, 2_000)))
    return f"{rng.random() * 100:.{int(rng.integers(1, 3))}f}"


def _tokenizer():  # noqa: ANN202 - a tokenizers.Tokenizer
    from tokenizers import Tokenizer

    from tasksift.vectors.models import DEFAULT_MODEL, locate_model

    source = locate_model(DEFAULT_MODEL)
    tokenizer = Tokenizer.from_file(str(source.path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@dataclass(frozen=True)
class CorpusPlan:
    chunks: int  # asked for
    files: int
    chunks_per_file: int
    words: tuple[int, int]  # per file, uniform in [low, high]
    tokens_per_word: float
    seed: int


def plan_corpus(chunks: int, model: TextModel, tokenizer, seed: int) -> CorpusPlan:  # noqa: ANN001
    """Files and words per file for ``chunks`` chunks of 254 tokens overlapping by 32."""
    rng = np.random.default_rng(seed)
    sample = [model.document(rng, 400) for _ in range(100)]
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch(sample, add_special_tokens=False))
    tokens_per_word = tokens / (400 * len(sample))
    files = min(chunks, FILES_MAX)
    per_file = max(1, round(chunks / files))
    size, stride = 254, 254 - 32
    if per_file == 1:  # one window: at most `size` tokens
        high = min(SINGLE_CHUNK_WORDS[1], int(0.95 * size / tokens_per_word))
        low = min(SINGLE_CHUNK_WORDS[0], int(0.75 * high))
    else:  # per_file windows: more than size + (per_file - 2) * stride tokens
        floor, ceiling = size + (per_file - 2) * stride, size + (per_file - 1) * stride
        low = int((floor + 0.2 * stride) / tokens_per_word)
        high = int((ceiling - 0.1 * stride) / tokens_per_word)
    return CorpusPlan(chunks, files, per_file, (low, high), round(tokens_per_word, 4), seed)


def write_corpus(folder: Path, plan: CorpusPlan, model: TextModel) -> float:
    """The files of ``plan`` under ``folder``; the seconds it took."""
    began = time.perf_counter()
    if folder.exists():
        shutil.rmtree(folder)
    rng = np.random.default_rng([plan.seed, plan.chunks])
    lengths = rng.integers(plan.words[0], plan.words[1] + 1, size=plan.files)
    for number, n_words in enumerate(lengths.tolist()):
        sub = folder / f"d{number // PER_FOLDER:04d}"
        if number % PER_FOLDER == 0:
            sub.mkdir(parents=True)
        (sub / f"f{number:07d}.txt").write_text(model.document(rng, n_words), encoding="utf-8")
    return time.perf_counter() - began


# -- the indexing child ------------------------------------------------------------------------


class SyntheticVectors:
    """Unit vectors from each text's idf-weighted word counts, by a fixed random projection."""

    def __init__(self, vocabulary: Path, dimension: int, seed: int = SEED) -> None:
        words, counts = read_vocabulary(vocabulary)
        idf = np.log(counts.sum() / counts)
        self.unknown = float(np.log(counts.sum() / MIN_WORD_COUNT))
        self.weights = dict(zip(words, idf.tolist(), strict=True))
        self.columns: dict[str, int] = {}
        rng = np.random.default_rng(seed)
        self.projection = rng.standard_normal((HASH_BUCKETS, dimension), dtype=np.float32)
        self.dimension = dimension

    def __call__(self, texts: list[str]) -> np.ndarray:
        from scipy.sparse import csr_matrix

        rows, columns, values = [], [], []
        for row, text in enumerate(texts):
            for word, count in Counter(WORD.findall(text.lower())).items():
                column = self.columns.get(word)
                if column is None:
                    column = self.columns[word] = zlib.crc32(word.encode()) % HASH_BUCKETS
                rows.append(row)
                columns.append(column)
                values.append((1.0 + math.log(count)) * self.weights.get(word, self.unknown))
        counts = csr_matrix(
            (np.array(values, dtype=np.float32), (rows, columns)),
            shape=(len(texts), HASH_BUCKETS),
        )
        vectors = np.asarray(counts @ self.projection, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors[norms[:, 0] == 0] = self.projection[0]  # a text without words
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def patch_embedding(vocabulary: Path) -> list[str]:
    """Replace ``embed_chunks`` in every loaded pipeline module; the modules patched."""
    import importlib
    import pkgutil

    import tasksift.pipeline
    from tasksift.pipeline import model as model_module

    for info in pkgutil.iter_modules(tasksift.pipeline.__path__):
        try:
            importlib.import_module(f"tasksift.pipeline.{info.name}")
        except Exception as exc:  # a module mid-rewrite: the pipeline may not use it
            print(f"# note: tasksift.pipeline.{info.name} not imported: {exc}", file=sys.stderr)
    original = model_module.embed_chunks
    made: dict[int, SyntheticVectors] = {}

    def embed_chunks(embedder, chunks, prompts, batch_size, reporter) -> np.ndarray:  # noqa: ANN001
        dimension = embedder.dimension
        if dimension not in made:
            made[dimension] = SyntheticVectors(vocabulary, dimension)
        vectors = made[dimension]([chunk.text for chunk in chunks])
        reporter.advance(len(chunks))
        return vectors

    patched = []
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("tasksift.pipeline")
            and getattr(module, "embed_chunks", None) is original
        ):
            module.embed_chunks = embed_chunks
            patched.append(name)
    if not patched:
        sys.exit("no tasksift.pipeline module holds embed_chunks: cannot replace the embedding")
    return patched


def child_build(corpus: Path, index: Path, vocabulary: Path) -> None:
    """Index ``corpus`` with synthetic document vectors; print a JSON summary."""
    from tasksift.pipeline import IndexOptions, build_index

    patched = patch_embedding(vocabulary)
    timer = CommitTimer.install()
    began = time.perf_counter()
    summary = build_index(corpus, index, IndexOptions())
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "documents": summary.documents,
                "chunks": summary.chunks,
                "embedded": summary.embedded,
                "build_s": seconds,
                "embed_s": summary.embed_seconds,
                "commit_s": timer.seconds,
                "commits": timer.commits,
                "commit_methods": timer.describe(),
                "patched": patched,
            }
        )
    )


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Built:
    chunks: int
    documents: int
    build_s: float
    index_rss_mib: float
    commit_s: float
    commits: int
    corpus_s: float


@dataclass
class Measured:
    built: Built
    cold_search_s: float
    cold_runs: list[float]
    search_rss_mib: float
    batch_qps: float
    batch_qps_net: float
    index_mib: float
    encoder_mib: float
    noop_index_s: float
    noop_index_rss_mib: float


def folder_mib(folder: Path) -> float:
    """Bytes on disk, as du counts them: a file hard-linked into two generations once."""
    sizes = {(s.st_dev, s.st_ino): s.st_size for p in folder.rglob("*") if p.is_file()
             for s in [p.stat()]}  # fmt: skip
    return sum(sizes.values()) / 2**20


def encoder_mib(index: Path) -> float:
    """Size of the exported query encoder(s): the folders holding an .onnx file."""
    return sum(folder_mib(folder) for folder in {p.parent for p in index.rglob("*.onnx")})


def real_queries() -> list[str]:
    lines = QUERIES.read_text(encoding="utf-8").splitlines()
    texts = [" ".join(json.loads(line)["text"].split()) for line in lines]
    order = np.random.default_rng(SEED).permutation(len(texts))
    return [texts[i] for i in order]


def build(size: int, work: Path, model: TextModel, tokenizer, keep: bool) -> Built:  # noqa: ANN001
    name = size_name(size)
    corpus, index = work / f"corpus-{name}", work / f"index-{name}"
    corpus_record, built_record = work / f"corpus-{name}.json", work / f"index-{name}.json"
    plan = plan_corpus(size, model, tokenizer, SEED)
    reuse_corpus = keep and corpus_record.is_file() and corpus.is_dir()
    if reuse_corpus and json.loads(corpus_record.read_text()).get("plan") != json.loads(
        json.dumps(asdict(plan))
    ):
        reuse_corpus = False
    if reuse_corpus:
        corpus_s = json.loads(corpus_record.read_text())["seconds"]
        print(f"# {name}: reusing {corpus}", flush=True)
    else:
        corpus_record.unlink(missing_ok=True)
        print(f"# {name}: writing {plan.files} files {plan.words} words each ...", flush=True)
        corpus_s = write_corpus(corpus, plan, model)
        corpus_record.write_text(json.dumps({"plan": asdict(plan), "seconds": corpus_s}))
        built_record.unlink(missing_ok=True)
    if keep and built_record.is_file() and (index / "CURRENT").is_file():
        print(f"# {name}: reusing {index}", flush=True)
        return Built(**json.loads(built_record.read_text()))
    if index.exists():
        shutil.rmtree(index)
    print(f"# {name}: indexing (synthetic document vectors) ...", flush=True)
    command = [sys.executable, __file__, "--child-build", str(corpus), str(index)]
    timed = run_checked(
        [*command, "--vocabulary", str(work / "vocabulary.tsv")], f"indexing {corpus}"
    )
    summary = json.loads(timed.stdout.strip().splitlines()[-1])
    for line in timed.stderr.splitlines():
        if line.startswith("# note"):
            print(line)
    print(f"# {name}: embed_chunks replaced in {', '.join(summary['patched'])}; commits timed "
          f"in {summary['commit_methods']}", flush=True)  # fmt: skip
    built = Built(
        chunks=summary["chunks"],
        documents=summary["documents"],
        build_s=summary["build_s"],
        index_rss_mib=timed.peak_rss_mib,
        commit_s=summary["commit_s"],
        commits=summary["commits"],
        corpus_s=corpus_s,
    )
    built_record.write_text(json.dumps(asdict(built)))
    return built


def measure(size: int, work: Path, built: Built, queries: list[str], repeat: int) -> Measured:
    name = size_name(size)
    corpus, index = work / f"corpus-{name}", work / f"index-{name}"
    search = [*TASKSIFT, "search"]
    where = ["--index", str(index)]

    def checked(command: list[str]):  # noqa: ANN202 - common.Timed
        return run_checked(command, " ".join(command[2:]))

    checked([*search, queries[-1], *where, "-f", "json"])  # warms the OS file cache
    cold = [
        checked([*search, queries[i % len(queries)], *where, "-f", "json"]) for i in range(repeat)
    ]
    batch_file, one_file = work / "queries-200.txt", work / "queries-1.txt"
    batch_file.write_text("".join(f"{q}\n" for q in queries[:BATCH_QUERIES]), encoding="utf-8")
    one_file.write_text(f"{queries[0]}\n", encoding="utf-8")
    batch = checked([*search, "--queries", str(batch_file), *where, "-f", "jsonl"])
    one = checked([*search, "--queries", str(one_file), *where, "-f", "jsonl"])
    net = batch.seconds - one.seconds
    noop = checked([*TASKSIFT, "index", str(corpus), *where, "--quiet"])
    if " 0 embedded" not in noop.stdout:
        print(f"# {name}: the no-op index run embedded something: {noop.stdout.strip()}")
    return Measured(
        built=built,
        cold_search_s=statistics.median(t.seconds for t in cold),
        cold_runs=[t.seconds for t in cold],
        search_rss_mib=max(t.peak_rss_mib for t in cold),
        batch_qps=BATCH_QUERIES / batch.seconds,
        batch_qps_net=(BATCH_QUERIES - 1) / net if net > 0 else float("nan"),
        index_mib=folder_mib(index),
        encoder_mib=encoder_mib(index),
        noop_index_s=noop.seconds,
        noop_index_rss_mib=noop.peak_rss_mib,
    )


def report(m: Measured) -> None:
    b = m.built
    print(
        f"chunks={b.chunks} cold_search_s={m.cold_search_s:.3f} batch_qps={m.batch_qps:.1f} "
        f"search_rss_mib={m.search_rss_mib:.0f} index_mib={m.index_mib:.1f} "
        f"index_rss_mib={b.index_rss_mib:.0f}"
    )
    runs = ",".join(f"{s:.3f}" for s in m.cold_runs)
    share = 100 * b.commit_s / b.build_s if b.build_s else 0.0
    print(
        f"#   files={b.documents} cold_search_runs_s={runs} batch_qps_net={m.batch_qps_net:.1f} "
        f"noop_index_s={m.noop_index_s:.2f} noop_index_rss_mib={m.noop_index_rss_mib:.0f} "
        f"query_encoder_mib={m.encoder_mib:.1f} (in index_mib)"
    )
    print(
        f"#   build_s={b.build_s:.1f} writer_chunks_per_s={b.chunks / b.build_s:.0f} "
        f"commits={b.commits} commit_s={b.commit_s:.1f} commit_share={share:.1f}% "
        f"corpus_write_s={b.corpus_s:.1f}",
        flush=True,
    )


RATIO_FIELDS = (
    "cold_search_s", "batch_qps", "search_rss_mib", "index_mib", "index_rss_mib",
    "noop_index_s", "noop_index_rss_mib", "build_s",
)  # fmt: skip


def _value(m: Measured, field: str) -> float:
    return getattr(m.built, field) if hasattr(m.built, field) else getattr(m, field)


def ratios(results: list[Measured]) -> None:
    base = results[0]
    for m in results[1:]:
        parts = [f"chunks x{m.built.chunks / base.built.chunks:.1f}"]
        for field in RATIO_FIELDS:
            before, after = _value(base, field), _value(m, field)
            parts.append(f"{field} x{after / before:.2f}" if before else f"{field} n/a")
        print(f"# ratio chunks={m.built.chunks} / chunks={base.built.chunks}: {' '.join(parts)}")


def targets(results: list[Measured]) -> bool:
    """Check the issue's targets on the sizes of a million chunks or more."""
    met = True
    for m in (m for m in results if m.built.chunks >= 900_000):
        parts = []
        for field, (sense, bound) in TARGETS.items():
            value = _value(m, field)
            ok = value <= bound if sense == "<=" else value >= bound
            met &= ok
            parts.append(f"{field}={value:.2f} {sense} {bound:g} {'ok' if ok else 'MISSED'}")
        print(f"# targets at chunks={m.built.chunks}: {'; '.join(parts)}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="e.g. 10k,100k,1M")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--repeat", type=int, default=5, help="cold searches per size")
    parser.add_argument("--keep", action="store_true", help="reuse built corpora and indexes")
    parser.add_argument("--child-build", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--vocabulary", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build:
        child_build(*args.child_build, args.vocabulary)
        return 0
    sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    require_scifact()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    vocabulary = work / "vocabulary.tsv"
    if not (args.keep and vocabulary.is_file()):
        write_vocabulary(vocabulary)
    model, tokenizer = TextModel(vocabulary, SEED), _tokenizer()
    queries = real_queries()
    results = []
    for size in sizes:
        built = build(size, work, model, tokenizer, args.keep)
        results.append(measure(size, work, built, queries, args.repeat))
        report(results[-1])
    if len(results) > 1:
        ratios(results)
    return 0 if targets(results) else 1


if __name__ == "__main__":
    sys.exit(main())
