"""HTML and XHTML: the page's visible text, its headings as sections.

Scripts, styles, hidden parts and navigation boilerplate (nav, site header and footer,
asides, ARIA navigation/banner/contentinfo/search landmarks, Sphinx's sidebar and related
bars, "skip to content" links) are dropped; the ``main`` element (or ``[role=main]``) is
preferred when the page has one. Block elements break lines, inline ones do not; whitespace
is collapsed except inside ``pre``. The charset is the BOM's, else the one a ``<meta>`` or
the XML declaration names, else UTF-8 (undecodable bytes replaced).

Library: selectolax (MIT; the Lexbor HTML5 parser, in C), imported lazily. Measured on the
530 pages (50.6 MB) of Debian's python3.11-doc, full extraction, on a busy 2-core machine:
selectolax 218-223 pages/s, the same extraction on the standard library's html.parser 72-78
pages/s (its tokenizer is pure Python). Lexbor also builds the tree as browsers do (implied
end tags, misnested markup) and answers CSS selectors, where an html.parser event stream has
to guess which end tag closes a dropped region. Asides that docutils writes for footnotes,
topics and sidebars are kept: they are content.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tasksift.documents.extracted import (
    Extracted,
    HeadingPath,
    Section,
    Unreadable,
    nesting_guard,
)

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser, LexborNode

_INVISIBLE = (
    "script, style, noscript, template, svg, head, iframe, object, canvas, button, "
    "select, nav, [hidden], [role=navigation]"
)
_BOILERPLATE = (
    "[role=banner], [role=contentinfo], [role=search], div.sphinxsidebar, div.related, "
    "div.footer, a.headerlink, .skip-link, a[href^='#']:lexbor-contains('skip to' i)"
)
# docutils >= 0.18 writes footnotes, topics and sidebars as <aside>: content, not chrome
_CONTENT_ASIDES = frozenset({"footnote", "footnote-list", "topic", "sidebar"})
_SECTIONING = frozenset({"article", "section", "main", "aside", "nav"})
_MAIN = "main, [role=main]"

_PARAGRAPH = frozenset(
    "p h1 h2 h3 h4 h5 h6 pre blockquote table ul ol dl section article aside header footer "
    "main figure hr address details fieldset form center hgroup".split()
)
_LINE = frozenset("div li tr br dt dd caption summary figcaption legend option".split())
_CELL = frozenset({"td", "th"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_SPACE = re.compile(r"\s+")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([\w.:-]+)", re.IGNORECASE)
# what the WHATWG Encoding standard reads these labels as
_WHATWG = {"ascii": "cp1252", "iso8859-1": "cp1252"} | dict.fromkeys(
    ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"), "utf-8"
)
_SNIFF = re.compile(rb"<html|<!doctype\s+html|http://www\.w3\.org/1999/xhtml", re.IGNORECASE)
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_SELF_CLOSING = re.compile(r"<([A-Za-z][\w:.-]*)((?:\s[^<>]*?)?)\s*/>")


class HtmlReader:
    kind = "html"
    version = 1
    suffixes = (".html", ".htm", ".xhtml")

    def sniff(self, head: bytes) -> bool:
        start = head[:1024].lstrip(codecs.BOM_UTF8 + b" \t\r\n")
        return start.startswith(b"<") and _SNIFF.search(start) is not None

    def read(self, data: bytes, path: Path) -> Extracted:
        with nesting_guard():
            extracted = html_to_extracted(decode_html(data))
        if not extracted.text:
            raise Unreadable("no visible text")
        return extracted


def decode_html(data: bytes) -> str:
    """The text of an HTML file: BOM, then ``<meta>`` charset, then XML declaration, else
    UTF-8; undecodable bytes are replaced, so this never fails."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    try:
        return data.decode(_declared(data[:4096]), errors="replace")
    except LookupError:  # a bytes-to-bytes codec such as "base64"
        return data.decode("utf-8", errors="replace")


def _declared(head: bytes) -> str:
    """The encoding a ``<meta>`` or the XML declaration names, else UTF-8."""
    found = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if not found:
        return "utf-8"
    try:
        encoding = codecs.lookup(found.group(1).decode("ascii")).name
    except LookupError:
        return "utf-8"
    return _WHATWG.get(encoding, encoding)


def html_to_extracted(markup: str, web: bool = True) -> Extracted:
    """Visible text, heading sections and title of an HTML or XHTML document.

    ``web`` also drops site chrome (banner, footer, asides, sidebars) and prefers ``main``;
    EPUB chapters pass False, as their headers and asides are content.
    """
    from selectolax.lexbor import LexborHTMLParser

    if _is_xhtml(markup):
        markup = _expand_self_closing(markup)
    tree = LexborHTMLParser(markup)
    skip = _skipped(tree, web)
    main = tree.css_first(_MAIN) if web else None
    text, sections = _Text().build(main, skip) if main is not None else ("", ())
    if not text:
        text, sections = _Text().build(tree.body or tree.root, skip)
    return Extracted(text, sections, title=_title(tree))


def _is_xhtml(markup: str) -> bool:
    head = markup[:2048]
    return head.lstrip().startswith("<?xml") or "http://www.w3.org/1999/xhtml" in head


def _expand_self_closing(markup: str) -> str:
    """``<a id="x"/>`` as ``<a id="x"></a>``: an HTML parser reads ``<title/>`` or
    ``<script/>`` as an open element that swallows the rest of the file."""

    def expand(match: re.Match[str]) -> str:
        tag = match.group(1)
        if tag.lower() in _VOID:
            return match.group(0)
        return f"<{tag}{match.group(2)}></{tag}>"

    return _SELF_CLOSING.sub(expand, markup)


def _title(tree: LexborHTMLParser) -> str | None:
    node = tree.head.css_first("title") if tree.head is not None else None
    title = " ".join(node.text().split()) if node is not None else ""
    return title or None


def _skipped(tree: LexborHTMLParser, web: bool) -> set[int]:
    """The ``mem_id`` of every element whose subtree is left out of the text."""
    skip = {node.mem_id for node in tree.css(_INVISIBLE)}
    if web:
        skip.update(node.mem_id for node in tree.css(_BOILERPLATE))
        skip.update(node.mem_id for node in tree.css("header, footer") if _is_landmark(node))
        skip.update(node.mem_id for node in tree.css("aside") if not _is_content_aside(node))
    return skip


def _is_landmark(node: LexborNode) -> bool:
    """A header or footer of the page (banner, contentinfo), not of an article or section."""
    parent = node.parent
    while parent is not None:
        if parent.tag in _SECTIONING or parent.attributes.get("role") == "main":
            return False
        parent = parent.parent
    return True


def _is_content_aside(node: LexborNode) -> bool:
    classes = (node.attributes.get("class") or "").split()
    return not _CONTENT_ASIDES.isdisjoint(classes)


class _Text:
    """Builds the text of a subtree, with whitespace collapsed and block breaks."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.brk = 0  # newlines owed before the next text
        self.space = False  # a space owed before the next text
        self.pre: list[str] | None = None  # text inside the outermost <pre>
        self.pre_depth = 0
        self.heading: tuple[int, int] | None = None  # (level, index in parts) when inside
        self.heading_level = 0
        self.path = HeadingPath()
        self.sections: list[Section] = []

    def build(self, root: LexborNode, skip: set[int]) -> tuple[str, tuple[Section, ...]]:
        stack: list[tuple[LexborNode, bool]] = [(root, True)]
        while stack:
            node, entering = stack.pop()
            tag = node.tag
            if tag == "-text":
                self.text(node.text_content or "")
            elif not entering:
                self.leave(tag)
            elif node.mem_id not in skip and tag != "-comment":
                self.enter(tag)
                stack.append((node, False))
                children = list(node.iter(include_text=True))
                stack.extend((child, True) for child in reversed(children))
        return "".join(self.parts), tuple(self.sections)

    def enter(self, tag: str) -> None:
        self.block(tag)
        if tag == "pre":
            self.pre_depth += 1
            if self.pre is None:
                self.pre = []
        elif tag == "br" and self.pre is not None:
            self.pre.append("\n")
        elif tag in _HEADINGS and not self.heading_level and self.pre is None:
            self.heading_level = _HEADINGS[tag]

    def leave(self, tag: str) -> None:
        if tag == "pre":
            self.pre_depth -= 1
            if not self.pre_depth and self.pre is not None:
                block, self.pre = "".join(self.pre).strip("\n").rstrip(), None
                if block.strip():
                    self.emit(block)
        elif tag in _HEADINGS and _HEADINGS[tag] == self.heading_level:
            self.end_heading()
        self.block(tag)

    def block(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self.brk = 2
        elif tag in _LINE:
            self.brk = max(self.brk, 1)
        elif tag in _CELL:
            self.space = True

    def text(self, raw: str) -> None:
        if self.pre is not None:
            self.pre.append(raw)
            return
        collapsed = _SPACE.sub(" ", raw)
        if collapsed.startswith(" "):
            self.space = True
        words = collapsed.strip()
        if words:
            self.emit(words)
            self.space = collapsed.endswith(" ")

    def emit(self, words: str) -> None:
        if self.parts:
            gap = "\n" * self.brk if self.brk else " " if self.space else ""
            self.parts.append(gap)
            self.size += len(gap)
        self.brk, self.space = 0, False
        if self.heading_level and self.heading is None:
            self.heading = (self.size, len(self.parts))
        self.parts.append(words)
        self.size += len(words)

    def end_heading(self) -> None:
        if self.heading is not None:
            start, index = self.heading
            title = " ".join("".join(self.parts[index:]).split())
            self.sections.append(Section(start, self.path.enter(self.heading_level, title)))
        self.heading, self.heading_level = None, 0
