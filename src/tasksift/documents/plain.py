"""Plain text, Markdown and reStructuredText: the file's own text, headings as sections.

Offsets are the file's own (after UTF-8 decoding), so every chunk maps to its lines; table
of contents leaders (``Autoscale ....... 132``) become as many spaces.
Markdown headings are ATX (``## Title``) and setext (a line underlined with ``===`` or
``---``), outside fenced code blocks; reStructuredText titles are underlined (and perhaps
overlined) with one punctuation character, their level set by the order in which each
adornment style first appears, as docutils does.
"""

from __future__ import annotations

import re
from pathlib import Path

from tasksift.documents.extracted import (
    Extracted,
    HeadingPath,
    Section,
    Unreadable,
    collapse_leaders,
)

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}[ \t]*$")


class PlainReader:
    kind = "text"
    version = 2
    suffixes = (".txt", ".text", ".md", ".markdown", ".rst")

    def sniff(self, head: bytes) -> bool:
        return b"\x00" not in head

    def read(self, data: bytes, path: Path) -> Extracted:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise Unreadable(f"not valid UTF-8 (byte {exc.start}: {exc.reason})") from None
        suffix = path.suffix.lower()
        if suffix in (".md", ".markdown"):
            sections = markdown_sections(text)
        elif suffix == ".rst":
            sections = rst_sections(text)
        else:
            sections = ()
        return Extracted(collapse_leaders(text, keep_offsets=True), sections, lines=True)


def _lines(text: str) -> list[tuple[int, str]]:
    """(offset, line without its end) for every line of ``text``."""
    found, offset = [], 0
    for line in text.splitlines(keepends=True):
        found.append((offset, line.rstrip("\r\n")))
        offset += len(line)
    return found


def markdown_sections(
    text: str, headings: HeadingPath | None = None, offset: int = 0
) -> tuple[Section, ...]:
    """Sections of Markdown ``text``, shifted by ``offset`` and nested under ``headings``
    (for text that continues a document, such as a notebook's cells)."""
    sections: list[Section] = []
    path = headings or HeadingPath()
    fenced = False
    lines = _lines(text)
    for i, (start, line) in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        atx = _ATX.match(line)
        if atx:
            title = atx.group(2).strip()
            sections.append(Section(offset + start, path.enter(len(atx.group(1)), title)))
            continue
        following = lines[i + 1][1] if i + 1 < len(lines) else ""
        setext = _SETEXT.match(following)
        if setext and line.strip() and not _SETEXT.match(line):
            level = 1 if setext.group(1).startswith("=") else 2
            sections.append(Section(offset + start, path.enter(level, line.strip())))
    return tuple(sections)


def rst_sections(text: str) -> tuple[Section, ...]:
    sections: list[Section] = []
    path = HeadingPath()
    styles: list[tuple[str, bool]] = []  # (character, overlined), in order of appearance
    lines = _lines(text)
    i = 0
    while i + 1 < len(lines):
        offset, line = lines[i]
        title, under = line.strip(), lines[i + 1][1]
        over = _RST_ADORNMENT.match(line)
        if over and i + 2 < len(lines) and _RST_ADORNMENT.match(lines[i + 2][1]):
            style, title, start, step = (line[0], True), lines[i + 1][1].strip(), offset, 3
        elif title and not over and _RST_ADORNMENT.match(under) and len(under) >= len(title):
            style, start, step = (under[0], False), offset, 2
        else:
            i += 1
            continue
        if style not in styles:
            styles.append(style)
        sections.append(Section(start, path.enter(styles.index(style) + 1, title)))
        i += step
    return tuple(sections)
