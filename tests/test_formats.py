"""Documents in the formats people keep, through the real CLI: what is read, where each
hit is, what is skipped and why, and what an update re-reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import invoke, run_cli, sidecar_table

SAMPLES = Path(__file__).parent.parent / "sample_corpus"
FILES = [
    "rivers-and-ecology/wetland-restoration-field-handbook.pdf",
    "rivers-and-ecology/measuring-stream-flow.rst",
    "health/reading-a-nutrition-label.html",
    "law/tenant-deposit-return-checklist.docx",
    "cooking/a-short-book-of-soups.epub",
    "machine-learning/cross-validation-walkthrough.ipynb",
    "lending-and-banking/loan-officer-reply.eml",
    "cooking/emulsified-sauces-mayonnaise-hollandaise.md",
]


def _copy_samples(target: Path) -> Path:
    for name in FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SAMPLES / name, target / name)
    return target


@pytest.fixture(scope="module")
def formats_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("formats")
    corpus = _copy_samples(root / "corpus")
    result = run_cli("index", corpus, "-i", root / "index", "-q")
    assert result.code == 0, result.stderr
    assert "8 added" in result.stdout and "0 skipped" in result.stdout
    return root / "index"


def _rows(index: Path) -> list[dict]:

    return sidecar_table(index).to_pylist()


def _search(index: Path, query: str, *flags: str) -> list[dict]:
    result = run_cli("search", query, "-i", index, "-f", "jsonl", *flags)
    assert result.code == 0, result.stderr
    return result.jsonl()


def test_every_kind_is_read_without_markup_outputs_or_attachments(formats_index: Path) -> None:
    rows = _rows(formats_index)
    readers = {r["doc_id"].rsplit(".", 1)[1]: r["reader"].split(":")[0] for r in rows}
    expected = {"pdf": "pdf", "rst": "text", "html": "html", "docx": "docx", "epub": "epub",
                "ipynb": "notebook", "eml": "email", "md": "text"}  # fmt: skip
    assert readers == expected
    text = " ".join(r["text"] for r in rows)
    for absent in ("analytics", "All rights reserved", "newsletter", "About us",  # html chrome
                   "quokka",  # notebook output
                   "ATTACHMENT-ONLY-TOKEN",  # e-mail attachment
                   "Page 2", "Page 3"):  # running PDF footer  # fmt: skip
        assert absent not in text, absent
    assert text.count("Wetland Restoration Field Handbook") <= 1  # the running header, once
    assert "monitoring wells" in text and "day’s sodium" in text and "1.25" in text
    assert "Itemised list of deductions | 14 to 30 days" in text  # the DOCX table
    chapters = sorted((r["ordinal"], r["text"]) for r in rows if r["doc_id"].endswith(".epub"))
    epub = " ".join(text for _, text in chapters)  # in spine order, not file order
    assert epub.index("A good stock") < epub.index("Red lentil") < epub.index("gazpacho")


def test_a_pdf_hit_has_its_page_and_section(formats_index: Path) -> None:
    query = "how deep should the water be for planting sedge plugs"
    hit = _search(formats_index, query, "--type", "pdf", "-k", "1")[0]
    assert hit["page"] == 3 and hit["line_start"] is None
    assert hit["section"] == "Planting native sedges"
    table = run_cli("search", query, "-i", formats_index, "--type", "pdf", "-k", "1",
                    "-f", "table", env={"COLUMNS": "200"})  # fmt: skip
    assert "wetland-restoration-field-handbook.pdf p.3" in table.stdout
    hyphenated = _search(formats_index, "restoration", "--mode", "lexical", "--type", "pdf")
    assert hyphenated  # the word broken across a line end is whole again


def test_text_hits_have_lines_and_section_paths(formats_index: Path) -> None:
    hit = _search(formats_index, "current meter held at six tenths of the depth", "-k", "1")[0]
    assert hit["doc_id"] == "rivers-and-ecology/measuring-stream-flow.rst"
    assert hit["section"] == "Measuring stream flow > Current meters"
    source = (SAMPLES / hit["doc_id"]).read_text().splitlines()
    assert "Current meters" in source[hit["line_start"] - 1]
    assert hit["line_start"] <= hit["line_end"] <= len(source)
    table = run_cli("search", "current meter velocity", "-i", formats_index, "-k", "1",
                    "-f", "table", env={"COLUMNS": "200"})  # fmt: skip
    assert f"measuring-stream-flow.rst:{hit['line_start']}" in table.stdout
    tsv = run_cli("search", "current meter velocity", "-i", formats_index, "-k", "1", "-f", "tsv")
    fields = tsv.stdout.rstrip("\n").split("\t")
    assert fields[5:] == [str(hit["line_start"]), str(hit["line_end"]), "", hit["section"]]


def test_chunks_do_not_straddle_headings(formats_index: Path) -> None:
    html = [r for r in _rows(formats_index) if r["doc_id"].endswith(".html")]
    assert {r["section"] for r in html} >= {
        "Reading a nutrition label > Sodium and sugar > Hidden names for sugar",
        "Reading a nutrition label > Fibre and protein",
    }
    for row in html:
        heading = row["section"].rsplit(" > ", 1)[-1]
        assert row["text"].lstrip().startswith(heading)


def test_per_doc_returns_several_located_chunks(formats_index: Path) -> None:
    hits = _search(formats_index, "wetland water table monitoring", "--per-doc", "3", "-k", "1")
    assert len(hits) == 3 and {h["rank"] for h in hits} == {1}
    assert len({h["page"] for h in hits}) == 3
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]


def test_passage_is_the_best_matching_sentence(formats_index: Path) -> None:
    hit = _search(formats_index, "geese string fences", "--type", "pdf", "-k", "1")[0]
    assert not hit["snippet"].startswith("Protect new plantings")  # it is not the first one
    assert hit["passage"].startswith("… ") and "Protect new plantings from geese" in hit["passage"]


def _unreadable_pdfs(folder: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    good = SAMPLES / FILES[0]
    writer = PdfWriter(clone_from=PdfReader(good))
    writer.encrypt("secret")
    with (folder / "locked.pdf").open("wb") as handle:
        writer.write(handle)
    blank = PdfWriter()
    blank.add_blank_page(width=595, height=842)
    with (folder / "scan.pdf").open("wb") as handle:
        blank.write(handle)
    data = good.read_bytes()
    (folder / "cut.pdf").write_bytes(data[: len(data) // 3])


def test_unreadable_files_are_skipped_with_their_reason(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "docs").mkdir(parents=True)
    shutil.copy2(SAMPLES / FILES[1], corpus / "docs" / "flow.rst")
    _unreadable_pdfs(corpus / "docs")
    result = run_cli("index", corpus, "-i", tmp_path / "index")
    assert result.code == 0, result.stderr
    assert "1 added" in result.stdout and "3 skipped" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, result.stderr
    assert any("docs/locked.pdf" in w and "encrypted" in w for w in warnings)
    assert any("docs/scan.pdf" in w and "no text layer; OCR it first" in w for w in warnings)
    assert any("docs/cut.pdf" in w and "damaged" in w for w in warnings)


def test_a_new_reader_version_re_reads_only_its_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _copy_samples(tmp_path / "corpus")
    index = tmp_path / "index"
    assert invoke(capsys, "index", corpus, "-i", index, "-q").code == 0
    from tasksift.documents.pdf import PdfReader

    monkeypatch.setattr(PdfReader, "version", PdfReader.version + 1)
    # read in this process, where the new version is: a reading worker would not have it
    result = invoke(capsys, "index", corpus, "-i", index, "-q", "--max-seconds-per-file", "0")
    assert result.code == 0, result.stderr
    assert "1 changed" in result.stdout and "7 unchanged" in result.stdout
    info = json.loads(invoke(capsys, "info", "-i", index, "-f", "json").stdout)
    assert info["readers"]["pdf"] == PdfReader.version
    pdf_rows = [r for r in _rows(index) if r["doc_id"].endswith(".pdf")]
    assert {r["reader"] for r in pdf_rows} == {f"pdf:{PdfReader.version}"}
