"""PDF: the text of each page, in reading order, as paragraphs; the outline as sections.

Library: pypdfium2 (PDFium's bindings; Apache-2.0 / BSD-3-Clause), imported only inside
``read``. Measured against pypdf (BSD) on R 4.2.2's manuals (R-admin 85 pages, R-intro 113,
R-exts 236; one core of a busy 2-core machine), bare text extraction ran at 710-1190 pages/s
with pypdfium2 and 79-89 pages/s with pypdf, with text as good: the same reading order and
words, fewer spaces put before punctuation, and line-end hyphens marked (U+FFFE). This
reader, layout work included, reads those manuals at 520-680 pages/s.

Lines are joined with PDFium's glyph geometry: a line that ends because the next line's first
word would not have fit on it wraps into the next (a hyphen before a lowercase letter is
repaired), a larger drop between baselines than the document's usual one starts a paragraph
(a blank line), and any other short line keeps its line break. Running headers and footers
(the same first or last lines, digits masked, on many pages) are dropped. PDFium is not
thread-safe, so reads are serialized.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import itertools
import logging
import math
import re
import statistics
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasksift.documents.extracted import (
    LEADER,
    Extracted,
    Section,
    Unreadable,
    collapse_leaders,
)

if TYPE_CHECKING:
    import pypdfium2

_LOCK = threading.Lock()
_MIN_LETTERS = 20  # fewer letters than this in the whole file: a scan without a text layer
_EDGE_LINES = 2  # how many lines at the top and bottom of a page may be a header or footer
_RUNNING_SHARE = 0.4  # a header repeats on at least this share of pages...
_RUNNING_NUMBERED = 3  # ...or, when it holds a page number, on at least this many
_RAGGED = 0.15  # a ragged line ends this share of the text's width or less before its edge
_COLUMN_LINES = 3  # a column starts where at least this many lines of a page start,
_COLUMN_GAP = 0.2  # at least this share of the text's width right of the previous one
_UPRIGHT = 0.05  # radians: a line whose first character is turned more has no geometry
MAX_PAGES = 20_000  # limits against pathological files: pages in a document,
MAX_OBJECTS = 200_000  # objects on one page,
MAX_CHARS = 1_000_000  # and characters on one page
# A line ends at a line break or after the mark PDFium puts for a hyphen that splits a word
_LINE = re.compile(r"[^\r\n\ufffe\x02]+[\ufffe\x02]?")
_QUOTE = re.compile("[`'\u2018\u2019\"\u201c\u201d]")  # outlines and pages quote alike
_LETTER = re.compile(r"[^\W\d_]")
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_CLEAN = {c: None for c in range(32)} | {9: " ", 0xFFFE: "-", 0x02: "-", 0xAD: None}
_CLEAN |= {0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl"}
_CLEAN |= {0xFB05: "st", 0xFB06: "st"}  # ligatures, so that words are found


@dataclass(frozen=True)
class _Line:
    """One line of a page; geometry in points, None where PDFium's offsets did not map."""

    text: str
    left: float | None = None
    right: float = 0.0
    baseline: float = 0.0
    height: float = 0.0


class PdfReader:
    kind = "pdf"
    version = 2
    suffixes = (".pdf",)

    def sniff(self, head: bytes) -> bool:
        return b"%PDF-" in head[:1024]

    def read(self, data: bytes, path: Path) -> Extracted:
        with _LOCK, _quiet():
            pdf = _open(data)
            try:
                return _extract(pdf)
            finally:
                pdf.close()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep PDFium's bindings from writing warnings or log records to stderr."""
    logger = logging.getLogger("pypdfium2")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _detail(exc: BaseException) -> str:
    """A short, one-line description of a library error."""
    found = re.search(r"PDFium: ([^)]+)", str(exc))
    detail = found.group(1) if found else str(exc) or type(exc).__name__
    return " ".join(detail.split()).strip(" .").lower()[:80]


def _open(data: bytes) -> pypdfium2.PdfDocument:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)  # tries the empty user password by itself
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise Unreadable("encrypted; no password") from None
        if code == pdfium.raw.FPDF_ERR_SECURITY:
            raise Unreadable("encrypted; unsupported security handler") from None
        raise Unreadable(f"damaged PDF ({_detail(exc)})") from None
    except Exception as exc:  # anything else the bindings raise on bad input
        raise Unreadable(f"damaged PDF ({_detail(exc)})") from None


def _extract(pdf: pypdfium2.PdfDocument) -> Extracted:
    if len(pdf) > MAX_PAGES:
        raise Unreadable(f"too many pages ({len(pdf)}; the limit is {MAX_PAGES})")
    pages = [_read_page(pdf, index) for index in range(len(pdf))]
    if not pages:
        raise Unreadable("damaged PDF (no pages)")
    if not _has_text(pages):
        raise Unreadable("no text layer; OCR it first")
    if len(pages) >= 4:
        pages = _drop_running(pages)
    pitch = _pitch(pages)
    text, offsets = _assemble([collapse_leaders(_join(lines, pitch)) for lines in pages])
    try:
        sections = _sections(pdf, text, offsets)
    except Exception:  # a broken outline costs the sections, not the text
        sections = ()
    return Extracted(text, sections, pages=offsets, lines=False, title=_title(pdf))


def _has_text(pages: list[list[_Line]]) -> bool:
    """Whether the pages hold at least a few words of text, rather than only images."""
    letters = 0
    for line in (line for lines in pages for line in lines):
        letters += len(_LETTER.findall(line.text))
        if letters >= _MIN_LETTERS:
            return True
    return False


def _read_page(pdf: pypdfium2.PdfDocument, index: int) -> list[_Line]:
    import pypdfium2.raw as pdfium_c

    try:
        page = pdf[index]
        try:
            if pdfium_c.FPDFPage_CountObjects(page) > MAX_OBJECTS:
                raise Unreadable(f"too many objects on page {index + 1} (limit {MAX_OBJECTS})")
            textpage = page.get_textpage()
            try:
                return _lines(textpage, index)
            finally:
                textpage.close()
        finally:
            page.close()
    except Unreadable:
        raise
    except Exception as exc:
        raise Unreadable(f"damaged PDF (page {index + 1}: {_detail(exc)})") from None


def _lines(textpage: pypdfium2.PdfTextPage, index: int) -> list[_Line]:
    """The page's lines in PDFium's reading order (its own text), with their geometry where
    their characters have one and stand upright."""
    import pypdfium2.raw as pdfium_c

    count = textpage.count_chars()
    if count > MAX_CHARS:
        raise Unreadable(f"too many characters on page {index + 1} (limit {MAX_CHARS})")
    raw = textpage.get_text_range()
    # PDFium's text leaves out some characters (and may add some): map text to characters
    char_at = None if len(raw) == count else pdfium_c.FPDFText_GetCharIndexFromTextIndex
    lines = []
    for match in _LINE.finditer(raw):
        start, end = match.span()
        while start < end and raw[start].isspace():
            start += 1
        while end > start and raw[end - 1].isspace():
            end -= 1
        if start == end:
            continue
        text = raw[start:end].translate(_CLEAN).strip()
        if not text:
            continue
        first, last = start, end - 1
        if char_at is not None:
            first, last = char_at(textpage, first), char_at(textpage, last)
        lines.append(_measure(textpage, text, first, last))
    return lines


def _measure(textpage: Any, text: str, first: int, last: int) -> _Line:
    """A line with the box of its first and last characters and its first baseline; without
    geometry when a character is unknown or the line is turned (a rotated page, a label)."""
    import pypdfium2.raw as pdfium_c

    if first < 0 or last < first:
        return _Line(text)
    angle = pdfium_c.FPDFText_GetCharAngle(textpage, first)
    if angle < 0 or min(angle, 2 * math.pi - angle) > _UPRIGHT:
        return _Line(text)
    left, bottom, _, top = textpage.get_charbox(first, loose=True)
    right = textpage.get_charbox(last, loose=True)[2]
    x, y = ctypes.c_double(), ctypes.c_double()
    if not pdfium_c.FPDFText_GetCharOrigin(textpage, first, ctypes.byref(x), ctypes.byref(y)):
        y.value = bottom
    if not left <= right:  # also False for NaN
        return _Line(text)
    return _Line(text, left, right, y.value, max(top - bottom, 1.0))


def _mask(text: str) -> str:
    """A line with its page numbers masked, to compare running headers across pages."""
    if re.fullmatch(r"[ivxlcdm]+", text, re.IGNORECASE):
        return "#"
    return " ".join(re.sub(r"\d+", "#", text).split())


def _running(edges: list[list[_Line]]) -> set[str]:
    """Masked lines that recur in the same place (top or bottom) on many pages."""
    counts = Counter(key for lines in edges for key in {_mask(line.text) for line in lines})
    enough = max(2, math.ceil(_RUNNING_SHARE * len(edges)))
    return {
        key
        for key, count in counts.items()
        if count >= enough or (count >= _RUNNING_NUMBERED and "#" in key)
    }


def _places(edges: list[list[_Line]], keys: set[str]) -> dict[int, float]:
    """Baselines (rounded) where running lines sit on at least two pages, with the lines'
    height there: a line of that height there that starts or ends with a page number is a
    running line too (a per-chapter header, say)."""
    found: dict[int, list[float]] = {}
    for line in (line for lines in edges for line in lines):
        if line.left is not None and _mask(line.text) in keys:
            found.setdefault(round(line.baseline), []).append(line.height)
    return {
        y + d: statistics.median(heights)
        for y, heights in found.items()
        if len(heights) >= 2
        for d in (-1, 0, 1)
    }


class _Edge:
    """Which lines at one edge of the pages (top or bottom) are running headers or footers."""

    def __init__(self, edges: list[list[_Line]]) -> None:
        self.keys = _running(edges)
        self.places = _places(edges, self.keys)

    def __contains__(self, line: _Line) -> bool:
        if _mask(line.text) in self.keys:
            return True
        height = self.places.get(round(line.baseline)) if line.left is not None else None
        numbered = re.search(r"^\d|\d$", line.text) is not None
        return numbered and height is not None and abs(line.height - height) < 0.2 * height


def _drop_running(pages: list[list[_Line]]) -> list[list[_Line]]:
    """The pages without their running headers and footers."""
    top = _Edge([lines[:_EDGE_LINES] for lines in pages])
    bottom = _Edge([lines[-_EDGE_LINES:] for lines in pages])
    kept = []
    for lines in pages:
        first, last = 0, len(lines)
        while first < min(_EDGE_LINES, last) and lines[first] in top:
            first += 1
        while last > max(first, len(lines) - _EDGE_LINES) and lines[last - 1] in bottom:
            last -= 1
        kept.append(lines[first:last])
    return kept


def _pitch(pages: list[list[_Line]]) -> float:
    """The usual drop from one baseline to the next in the document, in points."""
    drops = [
        a.baseline - b.baseline
        for lines in pages
        for a, b in itertools.pairwise(lines)
        if a.left is not None
        and b.left is not None
        and 0.3 * a.height < a.baseline - b.baseline < 3 * a.height
    ]
    return statistics.median(drops) if drops else 0.0


def _wrapped(a: _Line, b: _Line, left: float, edge: float) -> bool:
    """Whether ``a`` wraps into ``b``: ``b``'s first word would not have fit before the right
    ``edge``, or (text wrapped by counting characters) ``a`` comes near the edge and ``b``
    goes on in lowercase."""
    if LEADER.search(a.text):  # a table of contents entry
        return False
    em = (b.right - b.left) / len(b.text) if b.left is not None else 0.0
    word = b.text.split(maxsplit=1)[0]
    if a.right + em * (len(word) + 1) >= edge:
        return True
    return a.right >= edge - _RAGGED * (edge - left) and b.text[:1].islower()


def _glue(a: _Line, b: _Line, pitch: float, left: float, edge: float) -> str:
    """What goes between lines ``a`` and ``b``: "\\n\\n" starts a paragraph, "\\n" ends a
    short line, " " continues a wrapped one, "" repairs a hyphenation (``a`` keeps its
    hyphen, for the caller to drop, before a lowercase letter)."""
    hyphenated = bool(_HYPHENATED.search(a.text))
    if not pitch or a.left is None or b.left is None:
        return "" if hyphenated and b.text[:1].islower() else "\n"
    drop = a.baseline - b.baseline
    if abs(drop) < 0.3 * a.height:
        return " "  # pieces of one line
    if drop < 0 or drop > 1.15 * pitch + 0.5:
        return "\n\n"
    wrapped = _wrapped(a, b, left, edge)
    if hyphenated and (wrapped or b.text[:1].islower()):
        return ""
    return " " if wrapped else "\n"


def _column_starts(lefts: list[float], width: float) -> list[float]:
    """Where the page's columns start: the left edges that at least ``_COLUMN_LINES`` lines
    share, each at least ``_COLUMN_GAP`` of the text's ``width`` right of the one before (so
    that indented lines stay in their column)."""
    counts = Counter(map(round, lefts))
    lefts = sorted(left for left, count in counts.items() if count >= _COLUMN_LINES)
    starts: list[float] = []
    for left in lefts:
        if not starts or left - starts[-1] > _COLUMN_GAP * width:
            starts.append(left)
    return starts


def _bounds(lines: list[_Line]) -> list[tuple[float, float]]:
    """Each line's left and right edges: those of its column (where text that wraps starts
    and ends), or of the page for a line that crosses into the next column."""
    lefts = [line.left for line in lines if line.left is not None]  # others keep their lines
    if not lefts:
        return [(0.0, 0.0)] * len(lines)
    page = (min(lefts), max(line.right for line in lines if line.left is not None))
    starts = _column_starts(lefts, page[1] - page[0])
    if len(starts) < 2:  # one column
        return [page] * len(lines)
    column: dict[int, tuple[float, float]] = {}
    keys = []
    for line in lines:
        key = -1
        if line.left is not None:
            found = bisect.bisect_right(starts, line.left + 1) - 1
            crosses = found + 1 < len(starts) and line.right > starts[found + 1]
            key = -1 if crosses else max(found, 0)
            left, right = column.get(key, (line.left, line.right))
            column[key] = (min(left, line.left), max(right, line.right))
        keys.append(key)
    return [column.get(key, page) for key in keys]


def _join(lines: list[_Line], pitch: float) -> str:
    """A page's text: its lines joined into paragraphs."""
    if not lines:
        return ""
    bounds = _bounds(lines)
    parts = [lines[0].text]
    for (a, b), (left, edge) in zip(itertools.pairwise(lines), bounds, strict=False):
        glue = _glue(a, b, pitch, left, edge)
        if glue == "" and b.text[:1].islower():
            parts[-1] = parts[-1][:-1]
        parts += [glue, b.text]
    return "".join(parts)


def _assemble(texts: list[str]) -> tuple[str, tuple[int, ...]]:
    """The pages' texts as one, a blank line apart, and the offset where each page starts."""
    offsets, parts, position = [], [], 0
    for text in texts:
        offsets.append(position)
        if text:
            parts.append(text)
            position += len(text) + 2
    joined = "\n\n".join(parts)
    return joined, tuple(min(offset, len(joined)) for offset in offsets)


def _find_title(text: str, title: str, start: int, end: int) -> int:
    """Where ``title`` starts in ``text[start:end]``: preferably as a heading line (perhaps
    after a number such as "2.1"), else anywhere; ``start`` when it is not there."""
    words = r"\s+".join(map(re.escape, title.split()))
    pattern = re.compile(_QUOTE.sub(lambda _: _QUOTE.pattern, words), re.IGNORECASE)
    found = None
    for match in pattern.finditer(text, start, end):
        line_start = max(text.rfind("\n", start, match.start()) + 1, start)
        if len(text[line_start : match.start()].strip()) <= 12:
            return line_start
        found = match.start() if found is None else found
    return start if found is None else found


def _sections(
    pdf: pypdfium2.PdfDocument, text: str, offsets: tuple[int, ...]
) -> tuple[Section, ...]:
    """One section per outline entry whose page is known, nested as in the outline."""
    sections: list[Section] = []
    path: list[str] = []
    for mark in pdf.get_toc():
        title = " ".join((mark.get_title() or "").split())
        if not title:
            continue
        path[mark.level :] = [""] * max(0, mark.level - len(path)) + [title]
        dest = mark.get_dest()
        page = dest.get_index() if dest is not None else None
        if page is None or not 0 <= page < len(offsets):
            continue
        start = offsets[page]
        end = offsets[page + 1] if page + 1 < len(offsets) else len(text)
        if sections and start <= sections[-1].start < end:
            start = sections[-1].start
        found = _find_title(text, title, start, end)
        sections.append(Section(found, tuple(p for p in path if p)))
    return tuple(sorted(sections, key=lambda section: section.start))


def _title(pdf: pypdfium2.PdfDocument) -> str | None:
    """The document's Title from its metadata; None when absent or a writer's placeholder."""
    try:
        title = " ".join((pdf.get_metadata_value("Title") or "").split())
    except Exception:
        return None
    return title if title and title.lower() != "untitled" else None
