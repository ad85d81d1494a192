"""Jupyter notebooks (.ipynb): markdown and code cells in order, without their outputs.

Cells are separated by blank lines. Markdown cells are kept as they are, and their headings
start sections, nested across cells; code cells are fenced (```` ```python ````) so that
they read as code. Raw cells and outputs are left out. Formats 4 and 3 (``worksheets``,
heading cells) are read. The title is the notebook's ``metadata.title``, else its first
heading.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tasksift.documents.extracted import (
    Extracted,
    HeadingPath,
    Section,
    Unreadable,
    nesting_guard,
)
from tasksift.documents.plain import markdown_sections

_CELL_SEPARATOR = "\n\n"
_BACKTICKS = re.compile(r"^ {0,3}(`{3,})", re.MULTILINE)


class NotebookReader:
    kind = "notebook"
    version = 1
    suffixes = (".ipynb",)

    def sniff(self, head: bytes) -> bool:
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return start.startswith(b"{") and (b'"cells"' in head or b'"nbformat"' in head)

    def read(self, data: bytes, path: Path) -> Extracted:
        with nesting_guard():
            notebook = _load(data)
        language = _language(notebook.get("metadata"))
        parts: list[str] = []
        sections: list[Section] = []
        heading_path = HeadingPath()
        offset = 0
        for kind, source in _cells(notebook):
            text = source.strip("\n").rstrip() if kind == "markdown" else _fence(source, language)
            if not text.strip():
                continue
            if parts:
                offset += len(_CELL_SEPARATOR)
            if kind == "markdown":
                sections.extend(markdown_sections(text, heading_path, offset))
            parts.append(text)
            offset += len(text)
        title = _metadata_title(notebook) or (sections[0].path[-1] if sections else None)
        return Extracted(_CELL_SEPARATOR.join(parts), tuple(sections), lines=False, title=title)


def _load(data: bytes) -> dict[str, Any]:
    """The notebook's JSON object; Unreadable when it is not one."""
    try:
        notebook = json.loads(data)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"not a valid notebook ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:  # undecodable bytes
        raise Unreadable(f"not a valid notebook ({exc})") from None
    if not isinstance(notebook, dict):
        raise Unreadable("not a valid notebook (not a JSON object)")
    if not isinstance(notebook.get("cells"), list) and not isinstance(
        notebook.get("worksheets"), list
    ):
        raise Unreadable("not a valid notebook (no cells)")
    return notebook


def _cells(notebook: dict[str, Any]) -> list[tuple[str, str]]:
    """(``markdown`` or ``code``, source) of each cell, in order; other cells left out."""
    cells = notebook.get("cells")
    if not isinstance(cells, list):  # format 3
        cells = [
            cell
            for sheet in notebook["worksheets"]
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
            for cell in sheet["cells"]
        ]
    found = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        if kind == "markdown":
            found.append(("markdown", _source(cell.get("source"))))
        elif kind == "heading":  # format 3
            level = cell.get("level") if isinstance(cell.get("level"), int) else 1
            heading = " ".join(_source(cell.get("source")).split())
            found.append(("markdown", f"{'#' * min(max(level, 1), 6)} {heading}"))
        elif kind == "code":
            found.append(("code", _source(cell.get("source", cell.get("input")))))
    return found


def _source(value: Any) -> str:
    """A cell's source: a string or a list of lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(line for line in value if isinstance(line, str))
    return ""


def _language(metadata: Any) -> str:
    """The kernel's language, for the code fences; empty when unknown."""
    if not isinstance(metadata, dict):
        return ""
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        info = metadata.get(key)
        name = info.get(field) if isinstance(info, dict) else None
        if isinstance(name, str) and name.isidentifier():
            return name.lower()
    return ""


def _fence(source: str, language: str) -> str:
    """A code cell as a fenced block, its fence longer than any backtick run inside."""
    code = source.strip("\n").rstrip()
    if not code.strip():
        return ""
    longest = max((len(m.group(1)) for m in _BACKTICKS.finditer(code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{code}\n{fence}"


def _metadata_title(notebook: dict[str, Any]) -> str | None:
    metadata = notebook.get("metadata")
    title = metadata.get("title") if isinstance(metadata, dict) else None
    return " ".join(title.split()) or None if isinstance(title, str) else None
