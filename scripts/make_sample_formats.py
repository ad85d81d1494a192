"""Write the sample corpus's files in the formats people keep, from original text.

    python scripts/make_sample_formats.py [--out sample_corpus]

Writes one file of each kind tasksift reads besides plain text and Markdown: a PDF of four
pages with a running header and footer, bookmarks and a hyphenated line break; an HTML page
with navigation, a script and a footer around its article; a DOCX with headings and a table;
an EPUB of three chapters whose spine order differs from their file names; a Jupyter
notebook with outputs (which are not indexed); an e-mail with an attachment (not followed);
and a reStructuredText page. The texts were written for this project. Needs reportlab and
python-docx (`pip install reportlab python-docx`); the output is the same on every run.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXED_TIME = (2026, 1, 15, 9, 30, 0)

WETLAND_PAGES = [
    (
        "Why wetlands are worth restoring",
        [
            "A wetland stores water in wet seasons and releases it slowly in dry ones, which "
            "evens out the flow of the streams below it. Its plants trap silt and take up "
            "nitrogen and phosphorus from farm runoff before they reach open water.",
            "Drained wetlands lose these functions within a few years. Restoring one is "
            "mostly a matter of giving the water back its old level and letting the "
            "vegetation follow, with a little help at the start.",
        ],
    ),
    (
        "Reading the water table",
        [
            "Before any digging, install three or four shallow monitoring wells: perforated "
            "pipes pushed one metre into the ground. Read them weekly for a full year. The "
            "restoration target is a water table within thirty centimetres of the surface "
            "for at least eight weeks of the growing season.",
            "Where old drainage ditches lower the water table, block them with compacted clay "
            "plugs rather than removing them; a plug every fifty metres of ditch is usually "
            "enough on gentle slopes.",
        ],
    ),
    (
        "Planting native sedges",
        [
            "Sedges and rushes anchor the soil and shade out invasive grasses. Plant plugs of "
            "native sedge in spring, thirty centimetres apart, where the water table in late "
            "summer stays within ten to twenty centimetres of the surface. Deeper water drowns "
            "young plugs; drier ground lets grasses outcompete them.",
            "Protect new plantings from geese with low string fences for the first season. "
            "Expect a third of the plugs to fail, and replant the gaps the next spring.",
        ],
    ),
    (
        "Monitoring the results",
        [
            "Count plant species in fixed one-metre quadrats each summer and photograph them "
            "from the same posts. A restoration is on track when native wetland species cover "
            "more than half of each quadrat by the third year.",
            "Keep reading the monitoring wells: a falling water table after the first years "
            "usually means that a ditch plug has failed or that a new drain was dug upstream.",
        ],
    ),
]


def write_pdf(path: Path) -> None:
    """Four pages with a running header and footer, bookmarks, and a hyphenated break."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    pdf.setTitle("Wetland Restoration Field Handbook")
    width, height = A4
    for number, (heading, paragraphs) in enumerate(WETLAND_PAGES, start=1):
        pdf.setFont("Helvetica", 8)
        pdf.drawString(72, height - 40, "Wetland Restoration Field Handbook")
        pdf.drawString(width / 2, 30, f"Page {number}")
        pdf.setFont("Helvetica-Bold", 14)
        pdf.drawString(72, height - 90, heading)
        pdf.bookmarkPage(f"p{number}")
        pdf.addOutlineEntry(heading, f"p{number}", level=0)
        y = height - 120
        pdf.setFont("Helvetica", 11)
        for paragraph in paragraphs:
            for line in _wrap(paragraph, 88, hyphenate=number == 2):
                pdf.drawString(72, y, line)
                y -= 15
            y -= 10
        pdf.showPage()
    pdf.save()


def _wrap(text: str, width: int, hyphenate: bool) -> list[str]:
    """Lines of at most ``width`` characters; with ``hyphenate``, break the first long word
    that does not fit with a hyphen, as typeset text does."""
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 <= width:
            line = f"{line} {word}".strip()
            continue
        if hyphenate and len(word) > 8 and width - len(line) > 5:
            cut = width - len(line) - 2
            lines.append(f"{line} {word[:cut]}-")
            line, hyphenate = word[cut:], False
            continue
        lines.append(line)
        line = word
    return [*lines, line]


NUTRITION_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Reading a nutrition label</title>
<style>body { font-family: sans-serif; }</style>
<script>window.analytics = {track: function () {}};</script>
</head>
<body>
<nav><a href="/">Home</a> | <a href="/health">Health</a> | <a href="/about">About us</a></nav>
<header><p>Community Health Notes &mdash; issue 14</p></header>
<main>
<article>
<h1>Reading a nutrition label</h1>
<p>Start with the <b>serving size</b>: every number on the label refers to one serving, and a
package often holds two or three. Compare it with what you actually eat.</p>
<h2>Sodium and sugar</h2>
<p>Daily values above 20&nbsp;% are high and below 5&nbsp;% are low. For sodium and added
sugars, aim for foods in the low range; a frozen dinner can carry half a day&rsquo;s sodium.</p>
<h3>Hidden names for sugar</h3>
<p>Ingredients ending in <em>-ose</em> (dextrose, maltose), syrups and fruit concentrates are
all added sugars, listed by weight from the most to the least.</p>
<h2>Fibre and protein</h2>
<p>Fibre helps digestion and keeps blood sugar steady; look for three grams or more per
serving in breads and cereals. Protein needs are usually met without reading labels.</p>
</article>
</main>
<aside><p>Subscribe to our newsletter for weekly tips!</p></aside>
<footer><p>&copy; 2026 Community Health Notes. All rights reserved.</p></footer>
</body>
</html>
"""


def write_docx(path: Path) -> None:
    """A checklist with headings, paragraphs and a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Tenant deposit return checklist"
    document.core_properties.created = datetime(*FIXED_TIME, tzinfo=timezone.utc)
    document.core_properties.modified = datetime(*FIXED_TIME, tzinfo=timezone.utc)
    document.add_heading("Tenant deposit return checklist", level=0)
    document.add_heading("Before moving out", level=1)
    document.add_paragraph(
        "Give written notice as the lease requires, usually thirty days before the end of "
        "the month. Ask the landlord for a joint inspection and take dated photographs of "
        "every room, the walls, the floors and the appliances."
    )
    document.add_heading("Deductions the landlord may make", level=1)
    document.add_paragraph(
        "A landlord may keep part of the security deposit only for unpaid rent and for damage "
        "beyond normal wear and tear. Faded paint and worn carpet are normal wear; holes in "
        "walls and broken fixtures are damage."
    )
    table = document.add_table(rows=3, cols=2)
    cells = [("Item", "Usual deadline"), ("Itemised list of deductions", "14 to 30 days"),
             ("Return of the remaining deposit", "same as the list")]  # fmt: skip
    for row, values in zip(table.rows, cells, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_heading("If the deposit is not returned", level=1)
    document.add_paragraph(
        "Send a demand letter that cites the deadline, then file in small claims court; many "
        "places award twice the deposit when a landlord withholds it in bad faith."
    )
    document.save(str(path))
    _normalize_zip(path)


SOUP_CHAPTERS = [  # (file name, title, paragraphs), in spine (reading) order
    ("c3-stock.xhtml", "A good stock",
     ["Roast bones and onions until brown, cover them with cold water and simmer, never boil, "
      "for four hours. Skim the foam in the first half hour; a cloudy stock comes from boiling."]),
    ("c1-lentil.xhtml", "Red lentil soup",
     ["Red lentils cook in twenty minutes and fall apart into a thick soup without blending. "
      "Fry cumin and garlic first, add the lentils and stock, and finish with lemon juice."]),
    ("c2-gazpacho.xhtml", "Chilled gazpacho",
     ["Blend ripe tomatoes, cucumber, pepper, garlic, olive oil and a little vinegar, then "
      "chill for at least two hours so the flavours settle. Serve it cold, never iced."]),
]  # fmt: skip


def write_epub(path: Path) -> None:
    """Three chapters whose spine order (stock, lentil, gazpacho) is not their file order."""
    manifest = "".join(
        f'<item id="c{i}" href="{name}" media-type="application/xhtml+xml"/>'
        for i, (name, _, _) in enumerate(SOUP_CHAPTERS)
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(SOUP_CHAPTERS)))
    opf = (
        '<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" '
        'version="3.0" unique-identifier="id"><metadata '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">tasksift-soups'
        "</dc:identifier><dc:title>A Short Book of Soups</dc:title><dc:language>en"
        f"</dc:language></metadata><manifest>{manifest}</manifest><spine>{spine}</spine>"
        "</package>"
    )
    container = (
        '<?xml version="1.0"?><container version="1.0" '
        'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile '
        'full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    with zipfile.ZipFile(path, "w") as book:
        _add(book, "mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        _add(book, "META-INF/container.xml", container)
        _add(book, "OEBPS/content.opf", opf)
        for name, title, paragraphs in sorted(SOUP_CHAPTERS):
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
            _add(book, f"OEBPS/{name}", (
                '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                f"<head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
            ))  # fmt: skip


def _add(book: zipfile.ZipFile, name: str, text: str, method: int = zipfile.ZIP_DEFLATED) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = method
    book.writestr(info, text)


def _normalize_zip(path: Path) -> None:
    """Rewrite a zip with fixed timestamps, so that the file is the same on every run."""
    with zipfile.ZipFile(path) as source:
        entries = [(i.filename, source.read(i)) for i in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data)


def notebook() -> dict:
    """A cross-validation walkthrough; its outputs must not be indexed."""

    def cell(kind: str, source: str, outputs: list | None = None) -> dict:
        found = {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            found |= {"execution_count": 1, "outputs": outputs or []}
        return found

    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "cells": [
            cell("markdown", "# Cross-validation walkthrough\n\nOne split can flatter a model; "
                 "k-fold cross-validation averages its score over k held-out folds."),
            cell("code", "from sklearn.model_selection import KFold\nfolds = KFold(n_splits=5, "
                 "shuffle=True, random_state=0)", [{"output_type": "stream", "name": "stdout",
                 "text": ["OUTPUT-ONLY-TOKEN quokka\n"]}]),
            cell("markdown", "## Stratified folds\n\nFor imbalanced classes, stratified folds "
                 "keep the share of each class the same in every fold."),
            cell("markdown", "## Nested cross-validation\n\nTuning hyperparameters on the same "
                 "folds that report the score leaks information; an inner loop tunes, an outer "
                 "loop scores."),
        ],
    }  # fmt: skip


def write_mail(path: Path) -> None:
    """A loan officer's reply with a PDF attachment that is not followed."""
    message = EmailMessage()
    message["Subject"] = "Your small business loan application – documents needed"
    message["From"] = "Dana Whitfield <dana.whitfield@example.org>"
    message["To"] = "owner@example.com"
    message["Date"] = format_datetime(datetime(*FIXED_TIME, tzinfo=timezone.utc))
    message.set_content(
        "Thank you for applying. Before the credit committee meets on Thursday we still need "
        "two years of business tax returns, a year-to-date profit and loss statement, and a "
        "debt schedule listing every loan and lease with its monthly payment.\n\n"
        "Our committee looks for a debt service coverage ratio of at least 1.25, so please "
        "include the cash-flow forecast you mentioned.\n\nDana Whitfield, Loan Officer\n"
    )
    message.add_attachment(
        b"ATTACHMENT-ONLY-TOKEN", maintype="application", subtype="pdf", filename="checklist.pdf"
    )
    message.set_boundary("tasksift-sample-boundary")
    path.write_bytes(bytes(message))


STREAM_FLOW_RST = """\
======================
Measuring stream flow
======================

Stream flow, or discharge, is the volume of water passing a point each second. Hydrologists
measure it to track floods, droughts and the health of the channel.

The float method
================

Time an orange floating down a measured ten-metre reach, multiply its speed by the channel's
cross-section area, and correct by 0.8 for the slower water near the bed and banks.

Current meters
==============

A current meter held at six tenths of the depth gives the mean velocity of each vertical
section; summing velocity times area over the sections gives the discharge.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "sample_corpus")
    out = parser.parse_args().out
    write_pdf(out / "rivers-and-ecology" / "wetland-restoration-field-handbook.pdf")
    (out / "health" / "reading-a-nutrition-label.html").write_text(NUTRITION_HTML)
    write_docx(out / "law" / "tenant-deposit-return-checklist.docx")
    write_epub(out / "cooking" / "a-short-book-of-soups.epub")
    (out / "machine-learning" / "cross-validation-walkthrough.ipynb").write_text(
        json.dumps(notebook(), indent=1) + "\n"
    )
    write_mail(out / "lending-and-banking" / "loan-officer-reply.eml")
    (out / "rivers-and-ecology" / "measuring-stream-flow.rst").write_text(STREAM_FLOW_RST)


if __name__ == "__main__":
    main()
