"""Build two public BEIR-form evaluation collections from the Python 3.11 manual.

Source: the HTML manual of Debian's ``python3.11-doc`` package
(``apt-get install -y python3.11-doc``; pages under /usr/share/doc/python3.11/html).
Nobody on this project wrote it, so it is a fair second collection besides SciFact.

One shared corpus, ``pydocs/corpus.jsonl.gz`` ({"_id", "title", "text"} per line), holds:

* every section of the manual (library, tutorial, howto, reference, using, faq, ...) as
  one document: ``_id`` is page path + section anchor (``library/os.html#files-and-directories``),
  ``title`` is "page title: section heading", ``text`` is the section's own visible text
  (subsections are documents of their own; no markup, scripts, navigation, sidebars,
  footers, local tables of contents or toctrees). Sections with fewer than
  ``MIN_DOC_WORDS`` words of their own (headings that only wrap subsections) are left out;
* for FAQ question sections, the title is the page title only, and the text does not
  contain the question heading, so a query never appears verbatim in its answer;
* the glossary as one document per definition (``glossary.html#term-bytecode``), title
  "Glossary", text the definition without the term heading.

Two query sets run against that one index, each in its own BEIR folder with
``queries.jsonl`` ({"_id", "text"}), ``qrels.tsv`` (``query-id  corpus-id  score``, score 1)
and ``corpus.jsonl.gz`` as a relative symlink to the shared corpus:

* ``pyfaq``: the FAQ questions (faq/*.html leaf section headings); the relevant document is
  the answer section. Questions whose answer has fewer than ``MIN_ANSWER_WORDS`` words are
  skipped. Long natural-language questions.
* ``pyglossary``: the glossary terms ("bytecode", "GIL", "coroutine function"); the
  relevant document is the term's definition. Short keyword queries: identifiers, jargon.
  Terms without any letter (">>>", "...") are skipped.

Run (from the repository root; the file is not called collections.py because that name would
shadow the standard library's ``collections`` for every script run from bench/):

    python bench/build_collections.py                # build into bench/results/collections/
    python bench/build_collections.py --out DIR --html /usr/share/doc/python3.11/html
    python bench/build_collections.py --check        # build, then a BM25 sanity check

``--check`` needs ``bm25s``, ``PyStemmer`` and ``ir-measures`` (pip); without ``bm25s`` it
says so and skips. It reports BM25 (English stopwords, Snowball stemmer) nDCG@10 and
Recall@100 per query set.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

HTML_ROOT = Path("/usr/share/doc/python3.11/html")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "collections"
MIN_DOC_WORDS = 5
MIN_ANSWER_WORDS = 20
MAX_SECTIONS = 8000
# Index and navigation pages: lists of links, no prose of their own.
SKIP_PAGES = re.compile(r"^(genindex.*|py-modindex|search|contents|index)\.html$")
# Dropped only if the whole manual yields more than MAX_SECTIONS sections.
OPTIONAL_DIRS = ("c-api/", "whatsnew/")
GLOSSARY_PAGE = "glossary.html"
GLOSSARY_TITLE = "Glossary"
CHECK_PACKAGES = "bm25s PyStemmer ir-measures"

VOID_TAGS = {"br", "img", "hr", "input", "meta", "link", "wbr", "col", "source", "area"}
BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "pre", "table", "tr", "td", "th",
    "blockquote", "br", "section", "h1", "h2", "h3", "h4", "h5", "h6", "figure", "caption",
}  # fmt: skip
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


@dataclass
class Section:
    anchor: str
    depth: int
    parent: int | None
    heading: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    children: int = 0


@dataclass
class Term:
    anchors: list[str]
    names: list[str]
    parts: list[str] = field(default_factory=list)


@dataclass
class Frame:
    tag: str
    sink: list[str] | None = None
    skip: bool = False
    section: bool = False
    glossary: bool = False
    term_name: list[str] | None = None


class PageParser(HTMLParser):
    """Split one Sphinx page into its sections (own text only) and glossary entries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.sections: list[Section] = []
        self.terms: list[Term] = []
        self.stack: list[Frame] = []
        self.open_sections: list[int] = []
        self.in_title = False
        self.main_depth: int | None = None
        self.pre_depth = 0

    # -- state -----------------------------------------------------------------------------
    def sink(self) -> list[str] | None:
        if self.main_depth is None:
            return None
        for frame in reversed(self.stack):
            if frame.skip:
                return None
            if frame.sink is not None:
                return frame.sink
        return None

    # -- events ----------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "title":
            self.in_title = True
        if tag in BLOCK_TAGS:
            self.emit("\n")
        if tag in VOID_TAGS:
            return
        frame = self.frame_for(tag, attr)
        self.stack.append(frame)
        if tag == "pre":
            self.pre_depth += 1

    def frame_for(self, tag: str, attr: dict[str, str]) -> Frame:
        classes = attr.get("class", "").split()
        if self.main_depth is None:
            if tag == "div" and attr.get("role") == "main":
                self.main_depth = len(self.stack)
            return Frame(tag)
        if tag in {"script", "style", "svg"} or "headerlink" in classes:
            return Frame(tag, skip=True)
        if tag == "nav" or "toctree-wrapper" in classes:
            return Frame(tag, skip=True)
        if tag == "section" and attr.get("id"):
            return self.open_section(tag, attr["id"])
        if tag in HEADINGS and self.open_sections and not self.current().heading:
            return Frame(tag, sink=self.current().heading)
        if tag == "dl" and "glossary" in classes:
            return Frame(tag, glossary=True)
        return self.glossary_frame(tag, attr)

    def glossary_frame(self, tag: str, attr: dict[str, str]) -> Frame:
        parent = self.stack[-1] if self.stack else None
        if parent is None or not parent.glossary:
            return Frame(tag)
        if tag == "dt":
            if not self.terms or self.terms[-1].parts:
                self.terms.append(Term([], []))
            name: list[str] = []
            self.terms[-1].names.append("")
            self.terms[-1].anchors.append(attr.get("id", ""))
            return Frame(tag, sink=name, term_name=name)
        if tag == "dd" and self.terms:
            return Frame(tag, sink=self.terms[-1].parts)
        return Frame(tag, skip=True)

    def open_section(self, tag: str, anchor: str) -> Frame:
        parent = self.open_sections[-1] if self.open_sections else None
        if parent is not None:
            self.sections[parent].children += 1
        section = Section(anchor, len(self.open_sections) + 1, parent)
        self.sections.append(section)
        self.open_sections.append(len(self.sections) - 1)
        return Frame(tag, sink=section.parts, section=True)

    def current(self) -> Section:
        return self.sections[self.open_sections[-1]]

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in VOID_TAGS or not any(f.tag == tag for f in self.stack):
            return
        while self.stack:
            frame = self.stack.pop()
            self.close_frame(frame)
            if frame.tag == tag:
                break
        if tag in BLOCK_TAGS:
            self.emit("\n")

    def close_frame(self, frame: Frame) -> None:
        if frame.tag == "pre":
            self.pre_depth -= 1
        if frame.section:
            self.open_sections.pop()
        if frame.term_name is not None:
            self.terms[-1].names[-1] = clean_line("".join(frame.term_name))
        if self.main_depth is not None and len(self.stack) <= self.main_depth:
            self.main_depth = None

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        sink = self.sink()
        if sink is None:
            return
        if not self.pre_depth:
            data = re.sub(r"\s+", " ", data)
            if not sink or sink[-1].endswith((" ", "\n")):
                data = data.lstrip()
        sink.append(data)

    def emit(self, text: str) -> None:
        sink = self.sink()
        if sink is not None:
            sink.append(text)


# -- text helpers ---------------------------------------------------------------------------
def clean_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def clean_text(parts: Iterable[str]) -> str:
    """Join parser output: one line per block, blank lines dropped, code indentation kept."""
    lines = (line.replace("\u00a0", " ").rstrip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line.strip())


def words(text: str) -> int:
    return len(text.split())


def page_title(parser: PageParser) -> str:
    title = clean_line("".join(parser.title))
    return re.sub(r"\s+\u2014 Python [\d.]+ documentation$", "", title)


# -- building --------------------------------------------------------------------------------
@dataclass
class Collections:
    docs: list[dict[str, str]] = field(default_factory=list)
    faq: list[tuple[str, str, str]] = field(default_factory=list)  # (qid, question, doc id)
    glossary: list[tuple[str, str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    short_answers: list[str] = field(default_factory=list)


def manual_pages(root: Path) -> list[str]:
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
    return [p for p in pages if not p.startswith("_") and not SKIP_PAGES.match(p)]


def parse_page(root: Path, page: str) -> PageParser:
    parser = PageParser()
    parser.feed((root / page).read_text(encoding="utf-8"))
    parser.close()
    return parser


def is_question(page: str, section: Section, text: str) -> bool:
    """A FAQ question: a leaf section below the page heading (empty leaves are categories)."""
    in_faq = page.startswith("faq/") and page != "faq/index.html"
    return in_faq and section.depth >= 2 and section.children == 0 and bool(text)


def add_page(out: Collections, page: str, parser: PageParser) -> None:
    title = page_title(parser)
    for section in parser.sections:
        heading = clean_line("".join(section.heading))
        text = clean_text(section.parts)
        doc_id = f"{page}#{section.anchor}"
        question = is_question(page, section, text)
        if question and words(text) < MIN_ANSWER_WORDS:
            out.short_answers.append(f"{doc_id} ({words(text)} words): {heading}")
        elif question:
            out.faq.append((f"{page[4:-5]}/{section.anchor}", heading, doc_id))
        if words(text) < MIN_DOC_WORDS:
            continue
        full = title if question or section.depth == 1 else f"{title}: {heading}"
        out.docs.append({"_id": doc_id, "title": full, "text": text})
    for term in parser.terms:
        add_term(out, page, term)


def add_term(out: Collections, page: str, term: Term) -> None:
    text = clean_text(term.parts)
    doc_id = f"{page}#{term.anchors[0]}"
    out.docs.append({"_id": doc_id, "title": GLOSSARY_TITLE, "text": text})
    for anchor, name in zip(term.anchors, term.names, strict=True):
        if re.search(r"[A-Za-z]", name):
            out.glossary.append((anchor, name, doc_id))
        else:
            out.dropped.append(f"glossary term {name!r} (no letters)")


def build(root: Path) -> Collections:
    pages = manual_pages(root)
    parsed = {page: parse_page(root, page) for page in pages}
    if sum(len(p.sections) for p in parsed.values()) > MAX_SECTIONS:
        for page in [p for p in pages if p.startswith(OPTIONAL_DIRS)]:
            del parsed[page]
        dropped = ", ".join(OPTIONAL_DIRS)
        print(f"more than {MAX_SECTIONS} sections: dropped the pages under {dropped}")
    out = Collections()
    for page, parser in parsed.items():
        add_page(out, page, parser)
    return out


# -- writing ----------------------------------------------------------------------------------
def write_corpus(path: Path, docs: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for doc in docs:
            gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8"))


def write_queries(folder: Path, queries: list[tuple[str, str, str]], corpus: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        for qid, text, _ in queries:
            handle.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with open(folder / "qrels.tsv", "w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        handle.writelines(f"{qid}\t{doc}\t1\n" for qid, _, doc in queries)
    link = folder / "corpus.jsonl.gz"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(corpus, folder))


def write_all(out_dir: Path, built: Collections) -> None:
    corpus = out_dir / "pydocs" / "corpus.jsonl.gz"
    write_corpus(corpus, built.docs)
    write_queries(out_dir / "pyfaq", built.faq, corpus)
    write_queries(out_dir / "pyglossary", built.glossary, corpus)


def check_unique(built: Collections) -> None:
    ids = [doc["_id"] for doc in built.docs]
    if len(ids) != len(set(ids)):
        raise SystemExit("duplicate document ids")
    known = set(ids)
    for name, queries in (("pyfaq", built.faq), ("pyglossary", built.glossary)):
        missing = [doc for _, _, doc in queries if doc not in known]
        if missing:
            raise SystemExit(f"{name}: relevant documents missing from corpus: {missing[:5]}")


def report(built: Collections) -> None:
    total = sum(words(doc["text"]) for doc in built.docs)
    print(f"corpus: {len(built.docs)} documents, {total} words")
    for name, queries in (("pyfaq", built.faq), ("pyglossary", built.glossary)):
        mean = sum(words(q) for _, q, _ in queries) / max(len(queries), 1)
        print(f"{name}: {len(queries)} queries, mean length {mean:.1f} words")
    for line in built.short_answers:
        print(f"skipped FAQ question, short answer: {line}")
    for line in built.dropped:
        print(f"skipped {line}")


# -- BM25 sanity check ----------------------------------------------------------------------
Run = list[tuple[str, str, float]]


def bm25_check(built: Collections) -> None:
    """BM25 (English stopwords, Snowball stemmer) nDCG@10 and Recall@100 of both query sets."""
    try:
        import bm25s
        import ir_measures  # noqa: F401  (used by mean_scores)
        import Stemmer
    except ImportError as error:
        print(f"--check skipped: {error.name} is not installed (pip install {CHECK_PACKAGES})")
        return
    stemmer = Stemmer.Stemmer("english")
    ids = [doc["_id"] for doc in built.docs]
    texts = [f"{doc['title']}\n{doc['text']}" for doc in built.docs]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False))
    for name, queries in (("pyfaq", built.faq), ("pyglossary", built.glossary)):
        texts = [text for _, text, _ in queries]
        tokens = bm25s.tokenize(
            texts, stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False
        )
        run = bm25_run(retriever, ids, [qid for qid, _, _ in queries], tokens)
        scores = mean_scores(queries, run)
        print(f"BM25 {name}: nDCG@10 {scores['nDCG@10']:.1f}, Recall@100 {scores['R@100']:.1f}")


def bm25_run(retriever: Any, ids: list[str], qids: list[str], tokens: list[list[str]]) -> Run:
    """Top 100 documents per query; a query left with no tokens gets no results."""
    run: Run = []
    for qid, query in zip(qids, tokens, strict=True):
        if not query:
            continue
        hits, scores = retriever.retrieve([query], k=100, show_progress=False)
        run += [(qid, ids[i], float(s)) for i, s in zip(hits[0], scores[0], strict=True)]
    return run


def mean_scores(queries: list[tuple[str, str, str]], run: Run) -> dict[str, float]:
    """Mean over every query of the set (x100); a query with no results counts as zero."""
    import ir_measures
    from ir_measures import R, nDCG

    measures = [nDCG @ 10, R @ 100]
    qrels = [ir_measures.Qrel(qid, doc, 1) for qid, _, doc in queries]
    scored = [ir_measures.ScoredDoc(qid, doc, score) for qid, doc, score in run]
    totals = {str(m): 0.0 for m in measures}
    for metric in ir_measures.iter_calc(measures, qrels, scored):
        totals[str(metric.measure)] += metric.value
    return {name: 100 * value / len(queries) for name, value in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=HTML_ROOT, help="manual HTML root")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--check", action="store_true", help="BM25 sanity check (bm25s)")
    args = parser.parse_args()
    if not (args.html / GLOSSARY_PAGE).is_file():
        raise SystemExit(f"{args.html} is not the manual: apt-get install -y python3.11-doc")
    built = build(args.html)
    check_unique(built)
    write_all(args.out, built)
    report(built)
    print(f"written under {args.out}")
    if args.check:
        bm25_check(built)


if __name__ == "__main__":
    main()
