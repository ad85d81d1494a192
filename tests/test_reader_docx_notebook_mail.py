"""The DOCX, notebook and e-mail readers, on files built here."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from tasksift.documents.docx import DocxReader
from tasksift.documents.extracted import Extracted, Unreadable
from tasksift.documents.mail import MailReader
from tasksift.documents.notebook import NotebookReader


def _section_starts_ok(extracted: Extracted) -> None:
    """Every section starts at its heading's text."""
    for section in extracted.sections:
        assert extracted.text[section.start :].startswith(section.path[-1])


# --- DOCX ---------------------------------------------------------------------------------


def _docx_bytes() -> bytes:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.core_properties.title = "Quarterly report"
    document.add_heading("Report", level=0)  # style "Title"
    document.add_paragraph("Opening words.")
    document.add_heading("Revenue", level=1)
    document.add_paragraph("Before the table.")
    table = document.add_table(rows=2, cols=3)
    for row, values in zip(
        table.rows, (("Region", "Q1", "Q2"), ("North", "10", "12")), strict=True
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("After the table.")
    document.add_heading("By region", level=2)
    document.add_paragraph("Northern numbers.")
    document.add_heading("Costs", level=1)
    document.add_paragraph("Costs went down.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def docx_data() -> bytes:
    return _docx_bytes()


def test_docx_text_order_and_table(docx_data: bytes) -> None:
    extracted = DocxReader().read(docx_data, Path("r.docx"))
    text = extracted.text
    assert extracted.title == "Quarterly report"
    assert extracted.lines is False
    assert "Region | Q1 | Q2\nNorth | 10 | 12" in text
    order = ["Report", "Opening words.", "Revenue", "Before the table.", "Region | Q1"]
    order += ["After the table.", "By region", "Northern numbers.", "Costs", "Costs went down."]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)


def test_docx_sections(docx_data: bytes) -> None:
    extracted = DocxReader().read(docx_data, Path("r.docx"))
    assert [s.path for s in extracted.sections] == [
        ("Report",),
        ("Report", "Revenue"),
        ("Report", "Revenue", "By region"),
        ("Report", "Costs"),
    ]
    _section_starts_ok(extracted)
    table_at = extracted.text.index("Region | Q1")
    assert extracted.section_at(table_at).path == ("Report", "Revenue")


def test_docx_sniff(docx_data: bytes) -> None:
    reader = DocxReader()
    assert reader.sniff(docx_data[:8192])
    assert not reader.sniff(b"PK\x03\x04 mimetypeapplication/epub+zip")
    assert not reader.sniff(b"plain text")


def test_docx_damaged(docx_data: bytes) -> None:
    reader = DocxReader()
    with pytest.raises(Unreadable, match=r"^damaged DOCX \(.+\)$"):
        reader.read(docx_data[: len(docx_data) // 2], Path("r.docx"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word file")
    with pytest.raises(Unreadable, match=r"^damaged DOCX \(.+\)$"):
        reader.read(buffer.getvalue(), Path("r.docx"))


def test_docx_encrypted() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    with pytest.raises(Unreadable, match=r"^encrypted or not a DOCX$"):
        DocxReader().read(ole, Path("secret.docx"))


# --- notebooks ----------------------------------------------------------------------------


def _notebook(**metadata: object) -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"language_info": {"name": "python"}, **metadata},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Analysis\n", "\n", "Intro."]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 1,
                "source": "# a comment, not a heading\nprint('hello')",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["OUTPUT-1\n"]}],
            },
            {"cell_type": "markdown", "metadata": {}, "source": "## Results\n\nIt worked."},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 2,
                "source": ["x = 1\n", "x"],
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "data": {"text/plain": ["OUTPUT-2"]},
                        "metadata": {},
                        "execution_count": 2,
                    }
                ],
            },
            {"cell_type": "raw", "metadata": {}, "source": "RAW-CELL"},
            {"cell_type": "markdown", "metadata": {}, "source": "Details\n-------\nMore."},
        ],
    }


def _read_notebook(notebook: dict) -> Extracted:
    return NotebookReader().read(json.dumps(notebook).encode(), Path("n.ipynb"))


def test_notebook_text_without_outputs() -> None:
    extracted = _read_notebook(_notebook())
    text = extracted.text
    assert "OUTPUT" not in text and "RAW-CELL" not in text
    assert "```python\n# a comment, not a heading\nprint('hello')\n```" in text
    assert "```python\nx = 1\nx\n```\n\nDetails" in text
    order = ["# Analysis", "Intro.", "print('hello')", "## Results", "x = 1", "Details"]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert "\n\n```python\n# a comment" in text  # cells apart by a blank line


def test_notebook_sections_and_title() -> None:
    extracted = _read_notebook(_notebook())
    assert [s.path for s in extracted.sections] == [
        ("Analysis",),
        ("Analysis", "Results"),
        ("Analysis", "Details"),
    ]
    for section in extracted.sections:
        heading = extracted.text[section.start :]
        assert heading.lstrip("# ").startswith(section.path[-1])
    assert extracted.title == "Analysis"
    assert _read_notebook(_notebook(title="My notebook")).title == "My notebook"


def test_notebook_sniff() -> None:
    reader = NotebookReader()
    assert reader.sniff(json.dumps(_notebook(), indent=1).encode()[:8192])
    assert not reader.sniff(b'{"_id": "1", "text": "hello"}')
    assert not reader.sniff(b"# Markdown")


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b'{"cells": [', "Expecting value at line 1"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"metadata": {}}', "no cells"),
        (b"\xff\xfe\xfa", ""),
    ],
)
def test_notebook_invalid(data: bytes, detail: str) -> None:
    with pytest.raises(Unreadable, match=r"^not a valid notebook \(.+\)$") as caught:
        NotebookReader().read(data, Path("n.ipynb"))
    assert detail in str(caught.value)


# --- e-mail -------------------------------------------------------------------------------


def _mail_with_attachment() -> bytes:
    message = EmailMessage()
    message["Subject"] = "Grüße aus Köln"
    message["From"] = "Zoë Müller <zoe@example.org>"
    message["To"] = "team@example.org"
    message["Date"] = "Mon, 02 Jun 2025 10:00:00 +0200"
    body = "Café crème à côté.\nSecond line."
    message.set_content(body, charset="latin-1", cte="quoted-printable")
    message.add_attachment(
        b"ATTACHMENT-SECRET-CONTENT", maintype="text", subtype="plain", filename="notes.txt"
    )
    message.add_attachment(
        b"%PDF-1.4 ATTACHMENT-PDF", maintype="application", subtype="pdf", filename="a.pdf"
    )
    return message.as_bytes()


def test_mail_plain_body_and_headers() -> None:
    data = _mail_with_attachment()
    assert b"=?utf-8?" in data and b"quoted-printable" in data  # really encoded
    extracted = MailReader().read(data, Path("m.eml"))
    text = extracted.text
    assert text.startswith(
        "Subject: Grüße aus Köln\nFrom: Zoë Müller <zoe@example.org>\n"
        "Date: Mon, 02 Jun 2025 10:00:00 +0200\n\n"
    )
    assert text.endswith("Café crème à côté.\nSecond line.")
    assert "ATTACHMENT" not in text and "notes.txt" not in text
    assert extracted.title == "Grüße aus Köln"
    assert extracted.sections == () and extracted.lines is False


@pytest.mark.parametrize("html_reader", [True, False])
def test_mail_html_only(html_reader: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not html_reader:  # the simple conversion, used when the HTML reader is missing
        monkeypatch.setitem(sys.modules, "tasksift.documents.html", None)
    message = EmailMessage()
    message["Subject"] = "Newsletter"
    message["From"] = "news@example.org"
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<h1>Big news</h1><p>Fish &amp; chips&nbsp;today</p><script>var x;</script>"
        "</body></html>"
    )
    message.set_content(html, subtype="html", cte="base64")
    extracted = MailReader().read(message.as_bytes(), Path("m.eml"))
    text = extracted.text
    assert text.startswith("Subject: Newsletter\nFrom: news@example.org\n\n")
    assert "Big news" in text and "Fish & chips" in text
    assert "<" not in text and "color" not in text and "var x" not in text


def test_mail_prefers_plain_alternative() -> None:
    message = EmailMessage()
    message["Subject"] = "Both"
    message.set_content("PLAIN version")
    message.add_alternative("<p>HTML version</p>", subtype="html")
    text = MailReader().read(message.as_bytes(), Path("m.eml")).text
    assert "PLAIN version" in text and "HTML version" not in text


def test_mail_sniff() -> None:
    reader = MailReader()
    assert reader.sniff(_mail_with_attachment()[:8192])
    assert reader.sniff(b"From someone Mon Jun  2 10:00:00 2025\nReceived: by x\nSubject: y\n")
    assert reader.sniff(b"Received: from mx.example.org\r\n\tby host\r\nSubject: hi\r\n\r\nbody")
    assert not reader.sniff(b"Note: this is plain text\n\nwith a colon")
    assert not reader.sniff(b"# Title\n\nSubject: late")
    assert not reader.sniff(b"")


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n  \n"])
def test_mail_empty_is_unreadable(data: bytes) -> None:
    with pytest.raises(Unreadable, match=r"^not an e-mail message$"):
        MailReader().read(data, Path("m.eml"))
