"""The PDF reader, on PDFs that reportlab writes here and on an R manual when installed."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from tasksift.documents.extracted import Extracted, Unreadable
from tasksift.documents.pdf import PdfReader

reportlab = pytest.importorskip("reportlab")
from reportlab.lib.pdfencrypt import StandardEncryption  # noqa: E402
from reportlab.pdfgen.canvas import Canvas  # noqa: E402

R_ADMIN = Path("/usr/share/R/doc/manual/R-admin.pdf")
FILE = Path("handbook.pdf")
LEADING, GAP = 12, 24  # points between lines of a paragraph, and between paragraphs

# Per page: a heading (or None) and paragraphs as lines, drawn in Courier 10 pt (6 pt a
# character): lines of 60 or more characters reach the right edge, so the paragraph wraps.
PAGES: list[tuple[str | None, list[list[str]]]] = [
    (
        "Introduction",
        [
            [
                "This handbook explains how local documents are searched with a",
                "task in mind, and why ranking by meaning beats matching words",
                "alone.",
            ],
            ["Short lines stay lines:", "one", "two"],
        ],
    ),
    (
        "Retrieval",
        [
            [
                "Retrieval starts from the query and the corpus. Every informa-",
                "tion need is written down as a task before the first search is",
                "run.",
            ],
        ],
    ),
    (
        "Hyperparameters",
        [
            ["Page three talks about hyperparameter tuning for the ranker."],
            ["A second paragraph on the third page closes the chapter."],
        ],
    ),
    (
        None,
        [
            [  # ragged: wrapped by a program that counts characters
                "The fourth page has plain body text and nothing else to",
                "add, wrapped early.",
            ]
        ],
    ),
    (None, [["The fifth page holds the closing material about licences."]]),
    (None, [["The sixth and last page ends the handbook with a summary."]]),
]
OUTLINE = [  # (title, level, page index)
    ("Introduction", 0, 0),
    ("Retrieval", 0, 1),
    ("Hyperparameters", 1, 2),
    ("Appendix", 0, 4),  # a title that its page does not show
]


def _draw_page(canvas: Canvas, number: int, heading: str | None, paragraphs, running: bool):
    if running:
        canvas.setFont("Helvetica", 9)
        canvas.drawString(72, 800, f"Search Handbook {number}")
        canvas.drawString(72, 40, f"Confidential draft, page {number} of {len(PAGES)}")
    y = 740
    if heading:
        canvas.setFont("Helvetica-Bold", 14)
        canvas.drawString(72, y, heading)
        y -= GAP + 6
    canvas.setFont("Courier", 10)
    for paragraph in paragraphs:
        for line in paragraph:
            canvas.drawString(72, y, line)
            y -= LEADING
        y -= GAP - LEADING


def make_pdf(
    pages=PAGES, outline=OUTLINE, running: bool = True, encrypt: StandardEncryption | None = None
) -> bytes:
    """A PDF of ``pages`` with a running header and footer and ``outline`` as bookmarks."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(612, 842), encrypt=encrypt)
    canvas.setTitle("Search Handbook")
    for index, (heading, paragraphs) in enumerate(pages):
        canvas.bookmarkPage(f"page{index}")
        _draw_page(canvas, index + 1, heading, paragraphs, running)
        canvas.showPage()
    for title, level, page in outline:
        canvas.addOutlineEntry(title, f"page{page}", level=level)
    canvas.save()
    return buffer.getvalue()


def read(data: bytes) -> Extracted:
    return PdfReader().read(data, FILE)


@pytest.fixture(scope="module")
def handbook() -> Extracted:
    return read(make_pdf())


def test_reader_protocol_and_sniff() -> None:
    reader = PdfReader()
    assert (reader.kind, reader.version, reader.suffixes) == ("pdf", 2, (".pdf",))
    assert reader.sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    assert reader.sniff(b"\xef\xbb\xbf junk before the magic %PDF-1.4")
    assert not reader.sniff(b"PK\x03\x04 a zip file")
    assert not reader.sniff(b" " * 1024 + b"%PDF-1.4")


def test_import_is_cheap() -> None:
    code = "import sys, tasksift.documents.pdf; print('pypdfium2' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_running_header_and_footer_removed(handbook: Extracted) -> None:
    assert "Search Handbook" not in handbook.text
    assert "Confidential draft" not in handbook.text
    assert handbook.title == "Search Handbook"
    assert handbook.lines is False


def test_hyphenation_repaired_and_paragraphs_kept(handbook: Extracted) -> None:
    text = handbook.text
    assert "Every information need is written down" in text
    assert "informa-" not in text
    assert "with a task in mind, and why ranking by meaning beats matching words alone." in text
    assert "matching words alone.\n\nShort lines stay lines:\none\ntwo" in text
    assert "the ranker.\n\nA second paragraph" in text
    assert "nothing else to add, wrapped early." in text
    assert "Introduction\n\nThis handbook" in text


def test_page_offsets(handbook: Extracted) -> None:
    pages = handbook.pages
    assert len(pages) == len(PAGES)
    assert pages[0] == 0
    assert list(pages) == sorted(pages)
    third = handbook.text.index("Page three talks")
    assert pages[2] <= third < pages[3]
    assert handbook.page_at(third) == 3
    assert handbook.text[pages[3] :].startswith("The fourth page")
    assert handbook.page_at(handbook.text.index("last page ends")) == 6


def test_outline_becomes_sections(handbook: Extracted) -> None:
    text, pages = handbook.text, handbook.pages
    paths = [section.path for section in handbook.sections]
    assert paths == [
        ("Introduction",),
        ("Retrieval",),
        ("Retrieval", "Hyperparameters"),
        ("Appendix",),
    ]
    starts = {section.path[-1]: section.start for section in handbook.sections}
    assert text[starts["Retrieval"] :].startswith("Retrieval\n\nRetrieval starts")
    assert starts["Hyperparameters"] == text.index("Hyperparameters")
    assert starts["Hyperparameters"] >= pages[2]
    assert starts["Appendix"] == pages[4]  # not on its page: the page's start
    found = handbook.section_at(text.index("hyperparameter tuning"))
    assert found is not None and found.label == "Retrieval > Hyperparameters"


def test_no_outline_no_sections_and_short_pdfs_keep_headers() -> None:
    extracted = read(make_pdf(pages=PAGES[:3], outline=[]))
    assert extracted.sections == ()
    assert "Search Handbook 1" in extracted.text  # under 4 pages: nothing counts as running
    assert len(extracted.pages) == 3


def test_encrypted_without_password() -> None:
    data = make_pdf(encrypt=StandardEncryption("secret", ownerPassword="owner", strength=128))
    with pytest.raises(Unreadable, match=r"^encrypted; no password$"):
        read(data)


def test_encrypted_with_empty_user_password_is_read() -> None:
    data = make_pdf(encrypt=StandardEncryption("", ownerPassword="owner", strength=128))
    extracted = read(data)
    assert "Every information need" in extracted.text
    assert len(extracted.sections) == len(OUTLINE)


def test_image_only_pdf_has_no_text_layer() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawInlineImage(Image.new("L", (40, 20), 128), 72, 600, 200, 100)
    canvas.showPage()
    canvas.rect(72, 72, 300, 300, fill=1)
    canvas.drawString(72, 60, "p. 2")  # a page number is not a text layer
    canvas.showPage()
    canvas.showPage()  # blank
    canvas.save()
    with pytest.raises(Unreadable, match=r"^no text layer; OCR it first$"):
        read(buffer.getvalue())


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(make_pdf()[: len(make_pdf()) // 2], id="truncated"),
        pytest.param(b"%PDF-1.7\n" + bytes(range(256)) * 8, id="garbage"),
        pytest.param(b"", id="empty"),
    ],
)
def test_damaged(data: bytes, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Unreadable, match=r"^damaged PDF \(.+\)$") as caught:
        read(data)
    assert "\n" not in str(caught.value)
    assert capfd.readouterr().err == ""


@pytest.mark.skipif(not R_ADMIN.is_file(), reason="needs Debian's r-doc-pdf")
def test_real_r_manual() -> None:
    extracted = read(R_ADMIN.read_bytes())
    text, pages = extracted.text, extracted.pages
    assert len(pages) > 50 and pages[0] == 0
    assert "R Installation and Administration 1" not in text  # the even pages' header
    assert "\nChapter 2: Installing R under Unix-alikes" not in text  # the odd pages' header
    assert "One disadvantage is that" in text
    assert "\n\n" in text
    obtaining = next(s for s in extracted.sections if s.path == ("1 Obtaining R",))
    assert text[obtaining.start :].startswith("1 Obtaining R")
    nested = [s for s in extracted.sections if len(s.path) > 1]
    assert nested and nested[0].path[0] == "1 Obtaining R"
    assert [s.start for s in extracted.sections] == sorted(s.start for s in extracted.sections)


def test_rotated_page_and_turned_text_keep_their_lines() -> None:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(612, 792))
    canvas.setPageRotation(90)  # a landscape page: text drawn turned, shown upright
    canvas.setFont("Courier", 10)
    canvas.rotate(90)
    for number, line in enumerate(
        ["Landscape tables are common in", "appendices of real reports."]
    ):
        canvas.drawString(72, -72 - 12 * number, line)
    canvas.showPage()
    canvas.save()
    text = read(buffer.getvalue()).text
    assert "Landscape tables are common in" in text and "appendices of real reports." in text


def test_scan_with_invisible_ocr_text_is_read() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawInlineImage(Image.new("L", (60, 80), 200), 0, 0, 612, 792)
    words = canvas.beginText(72, 700)
    words.setTextRenderMode(3)  # invisible, as OCR tools lay text over the scanned image
    words.setFont("Helvetica", 11)
    for line in ["The scanned letter was written in 1948", "and its words come from OCR."]:
        words.textLine(line)
    canvas.drawText(words)
    canvas.showPage()
    canvas.save()
    assert "The scanned letter was written in 1948" in read(buffer.getvalue()).text


def test_too_many_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasksift.documents import pdf

    monkeypatch.setattr(pdf, "MAX_PAGES", 5)
    with pytest.raises(Unreadable, match=r"^too many pages \(6; the limit is 5\)$"):
        read(make_pdf())
