"""Plain text, Markdown and reStructuredText: the file's own text, headings as sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasksift.documents.extracted import Unreadable
from tasksift.documents.plain import PlainReader

MARKDOWN = """# Guide

Intro.

## Install

```sh
# not a heading: inside a fence
pip install thing
```

From source
-----------

Build it.

#### Deep, with a level skipped
"""

RST = """=====
Guide
=====

Install
=======

From source
-----------

Usage
=====
"""


def _paths(text: str, name: str) -> list[tuple[str, ...]]:
    extracted = PlainReader().read(text.encode(), Path(name))
    for section in extracted.sections:
        assert text[section.start :].lstrip("=#").lstrip().startswith(section.path[-1])
    return [s.path for s in extracted.sections]


def test_markdown_headings_nest_and_fences_are_not_headings() -> None:
    assert _paths(MARKDOWN, "guide.md") == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "From source"),
        ("Guide", "From source", "Deep, with a level skipped"),
    ]


def test_rst_levels_follow_the_order_of_adornments() -> None:
    assert _paths(RST, "guide.rst") == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "From source"),
        ("Guide", "Usage"),
    ]


def test_plain_text_has_lines_and_no_sections() -> None:
    extracted = PlainReader().read(b"# not markdown here\ntext\n", Path("notes.txt"))
    assert extracted.lines and extracted.sections == ()
    with pytest.raises(Unreadable, match="UTF-8"):
        PlainReader().read(b"caf\xe9", Path("notes.txt"))


def test_table_of_contents_leaders_become_spaces(tmp_path: Path) -> None:
    text = "Contents\nAutoscale ........ 132\nLimits . . . . . . xii\nSee 1.2.3.4 and so on.\n"
    extracted = PlainReader().read(text.encode(), tmp_path / "toc.txt")
    assert extracted.text.splitlines()[1:3] == ["Autoscale          132", "Limits             xii"]
    assert len(extracted.text) == len(text) and extracted.text.endswith("1.2.3.4 and so on.\n")
