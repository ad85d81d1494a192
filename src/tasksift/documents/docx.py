"""Word documents (.docx): paragraphs and tables in body order, headings as sections.

Each paragraph is a block, and so is each table, one line per row with its cells joined by
`` | ``; blocks are separated by blank lines. Paragraphs styled "Title" or "Heading 1" to
"Heading 9" (or a style based on one) start sections: Title is the outermost level, Heading
n the level below Title. Content controls (``w:sdt``, e.g. a cover page) are read through;
headers, footers, footnotes and comments are not. python-docx is imported only in ``read``.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tasksift.documents.extracted import (
    Extracted,
    HeadingPath,
    Section,
    Unreadable,
    check_zip,
    nesting_guard,
)

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_HEADING = re.compile(r"^heading ?([1-9])$", re.IGNORECASE)
_BLOCK_SEPARATOR = "\n\n"


class DocxReader:
    kind = "docx"
    version = 1
    suffixes = (".docx",)

    def sniff(self, head: bytes) -> bool:
        return head.startswith(_ZIP_MAGIC) and b"word/" in head

    def read(self, data: bytes, path: Path) -> Extracted:
        with nesting_guard():
            return self._read(data)

    def _read(self, data: bytes) -> Extracted:
        if data.startswith(_OLE_MAGIC):
            raise Unreadable("encrypted or not a DOCX")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                check_zip(archive, "DOCX")
            import docx

            document = docx.Document(io.BytesIO(data))
            blocks = list(_blocks(document))
            title = (document.core_properties.title or "").strip() or None
        except (Unreadable, RecursionError):
            raise
        except Exception as exc:  # python-docx, zipfile and lxml raise many kinds
            raise Unreadable(f"damaged DOCX ({_detail(exc)})") from None
        return _assemble(blocks, title)


def _detail(exc: Exception) -> str:
    """One short line describing ``exc``."""
    message = " ".join(str(exc).split())
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return detail if len(detail) <= 120 else detail[:117] + "..."


def _blocks(document: Any) -> Iterator[tuple[str, int | None]]:
    """(text, heading level or None) for each non-empty paragraph and table, in order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    body = document.element.body
    for element in _body_elements(body):
        if element.tag.endswith("}tbl"):
            text = _table_text(Table(element, document._body))
            if text:
                yield text, None
        else:
            paragraph = Paragraph(element, document._body)
            text = paragraph.text.strip()
            if text:
                yield text, _heading_level(paragraph)


def _body_elements(parent: Any) -> Iterator[Any]:
    """The ``w:p`` and ``w:tbl`` children of ``parent``, descending into content controls."""
    for child in parent.iterchildren():
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag.endswith(("}p", "}tbl")):
            yield child
        elif tag.endswith(("}sdt", "}sdtContent")):
            yield from _body_elements(child)


def _table_text(table: Any) -> str:
    """One line per row, cells joined with `` | ``; a merged cell counts once."""
    rows = []
    for row in table.rows:
        cells, previous = [], None
        for cell in row.cells:
            if cell._tc is not previous:
                cells.append(" ".join(cell.text.split()))
            previous = cell._tc
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _heading_level(paragraph: Any) -> int | None:
    """1 for Title, n + 1 for Heading n, None for other paragraphs."""
    style = paragraph.style
    for _ in range(10):  # a style may be based on a heading style; chains are short
        if style is None:
            return None
        names = (style.name or "", style.style_id or "")
        if any(name.lower() == "title" for name in names):
            return 1
        for name in names:
            match = _HEADING.match(name)
            if match:
                return int(match.group(1)) + 1
        style = style.base_style
    return None


def _assemble(blocks: list[tuple[str, int | None]], title: str | None) -> Extracted:
    """Join the blocks and place a section at each heading."""
    parts: list[str] = []
    sections: list[Section] = []
    path = HeadingPath()
    offset = 0
    for text, level in blocks:
        if parts:
            offset += len(_BLOCK_SEPARATOR)
        if level is not None:
            sections.append(Section(offset, path.enter(level, " ".join(text.split()))))
        parts.append(text)
        offset += len(text)
    return Extracted(_BLOCK_SEPARATOR.join(parts), tuple(sections), lines=False, title=title)
