"""What a reader gets out of a file: text, its sections and pages, and why it may fail.

A reader is one small module per kind of file (``plain``, ``pdf``, ``html``, ``docx``,
``epub``, ``notebook``, ``mail``) that provides a ``Reader``: the suffixes it claims, a
content sniff, a version (bumped whenever its output changes, so that an update re-extracts
the files of that kind), and ``read``, which turns the file's bytes into an ``Extracted``.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Limits against decompression bombs in zip-based formats (DOCX, EPUB), read from the zip's
# directory before anything is extracted (zipfile never inflates past an entry's stated size)
MAX_UNZIPPED = 512 * 2**20  # bytes, all entries together
MAX_ENTRIES = 20_000
MAX_RATIO = 200  # uncompressed / compressed size of an entry larger than 1 MiB


@dataclass(frozen=True)
class Section:
    """A heading's span: from ``start`` (a character offset in the extracted text) to the
    next section's start. ``path`` is the heading path, outermost first."""

    start: int
    path: tuple[str, ...]

    @property
    def label(self) -> str:
        return " > ".join(self.path)


@dataclass(frozen=True)
class Extracted:
    """The text of a file as tasksift indexes it, with where things are in it."""

    text: str
    sections: tuple[Section, ...] = ()  # in order of start
    pages: tuple[int, ...] = ()  # PDF: offset where page i + 1 starts; pages[0] == 0
    lines: bool = False  # True: ``text`` is the file's own text, so offsets map to its lines
    title: str | None = None

    def page_at(self, offset: int) -> int | None:
        """1-based page of ``offset``, None when the file has no pages."""
        return bisect.bisect_right(self.pages, offset) if self.pages else None

    def section_at(self, offset: int) -> Section | None:
        starts = [s.start for s in self.sections]
        found = bisect.bisect_right(starts, offset) - 1
        return self.sections[found] if found >= 0 else None


class HeadingPath:
    """The headings above the current point of a document, outermost first: what a reader
    updates at each heading to get the section path."""

    def __init__(self) -> None:
        self._titles: list[str] = []

    def enter(self, level: int, title: str) -> tuple[str, ...]:
        """The path after a heading of ``level`` (1 outermost); skipped levels are left out."""
        del self._titles[level - 1 :]
        self._titles.extend([""] * (level - 1 - len(self._titles)))
        self._titles.append(title)
        return tuple(t for t in self._titles if t)


class Unreadable(Exception):
    """A file that cannot be read; the message is the reason shown to the user, one line,
    e.g. "encrypted, no password" or "no text layer; OCR it first"."""


# A table of contents entry's leader: four or more dots (perhaps spaced) before a page
# number; possessive, and anchored after a character that is not part of one, so that a long
# run of dots costs linear time
_DOTS = ".\u00b7\u2024\u2026"
LEADER = re.compile(
    rf"(?<![{_DOTS} \t])[ \t]*+(?:[{_DOTS}][ \t]*+){{4,}}+(?=(?:\d+|[ivxlcdm]+)[ \t]*$)",
    re.IGNORECASE | re.MULTILINE,
)


def collapse_leaders(text: str, keep_offsets: bool = False) -> str:
    """``text`` with each table of contents leader (``Autoscale . . . . 132``) collapsed
    to one space (``Autoscale 132``); ``keep_offsets`` puts as many spaces instead, so
    that offsets still map to the file's lines."""
    if not any(dots in text for dots in ("..", ". .", *_DOTS[1:])):
        return text  # most pages and files: no regex pass
    if keep_offsets:
        return LEADER.sub(lambda match: " " * len(match.group(0)), text)
    return LEADER.sub(" ", text)


def check_zip(archive: zipfile.ZipFile, kind: str) -> None:
    """Unreadable when the archive's directory promises a decompression bomb."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise Unreadable(f"{kind} with too many entries ({len(entries)}; limit {MAX_ENTRIES})")
    total = sum(entry.file_size for entry in entries)
    if total > MAX_UNZIPPED:
        raise Unreadable(
            f"{kind} too large unzipped ({total >> 20} MiB; limit {MAX_UNZIPPED >> 20} MiB)"
        )
    for entry in entries:
        if entry.file_size > 2**20 and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise Unreadable(f"{kind} entry {entry.filename!r} compressed too well (a zip bomb?)")


@contextlib.contextmanager
def nesting_guard() -> Iterator[None]:
    """Turn a parser's RecursionError (markup or JSON nested too deep) into Unreadable."""
    try:
        yield
    except RecursionError:
        raise Unreadable("nested too deeply to read") from None


class Reader(Protocol):
    """One kind of file."""

    kind: str  # e.g. "pdf"; recorded per document with the version
    version: int
    suffixes: tuple[str, ...]  # lowercase, with the dot: (".pdf",)

    def sniff(self, head: bytes) -> bool:
        """Whether a file starting with ``head`` (its first 8 KiB) is of this kind."""
        ...

    def read(self, data: bytes, path: Path) -> Extracted:
        """The file's text and structure; raises ``Unreadable`` with the reason."""
        ...
