"""The readers on real files nobody here made and on seeded damaged copies: never a crash.

A small, fast slice of bench/robustness.py, with its guarded read and its mutations: the
real files committed under tests/data/real (see its README), and three files of each kind
from the Debian documentation corpus when this machine has it.
"""

from __future__ import annotations

import importlib
import io
import random
import sys
import zipfile
from pathlib import Path

import pytest

from tasksift.documents import reader_of_suffix
from tasksift.documents.extracted import Unreadable

REAL = Path(__file__).parent / "data" / "real"
BENCH = Path(__file__).parent.parent / "bench"
SEED = 16
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def bench():
    """bench/robustness.py as a module (it imports bench/common.py as ``common``)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("robustness")
    finally:
        sys.path.remove(str(BENCH))


def read(path: Path, data: bytes | None = None):
    reader = reader_of_suffix(path)
    return reader.read(path.read_bytes() if data is None else data, path)


def real_files() -> list[Path]:
    return sorted(p for p in REAL.iterdir() if p.name != "README.md")


def test_real_files_are_read_and_their_mutants_never_crash(bench) -> None:
    rng = random.Random(SEED)
    kinds, mutants = set(), bench.Tally()
    for path in real_files():
        reader = reader_of_suffix(path)
        data = path.read_bytes()
        outcome = bench.guarded_read(reader, data, path, TIMEOUT)
        assert outcome.status == "read", (path.name, outcome)
        kinds.add(reader.kind)
        for label, mutant in bench.mutants(data, rng, 6):
            mutants.add(f"{path.name} ({label})", bench.guarded_read(reader, mutant, path, TIMEOUT))
    assert kinds == {"pdf", "html", "epub", "docx"}
    assert not mutants.crashed and not mutants.timed_out
    assert mutants.read and sum(mutants.skipped.values())  # some survive, some are refused


def test_debian_corpus_slice(bench) -> None:
    if not bench.CORPUS.is_dir():
        pytest.skip(f"no robustness corpus at {bench.CORPUS} (see bench/robustness.py)")
    files = bench.corpus_files(bench.CORPUS, 3, SEED)
    tallies, _ = bench.read_all(files, TIMEOUT, bench.CORPUS)
    mutated = bench.mutation_pass(files, 2, SEED, TIMEOUT, bench.CORPUS)
    for tally in [*tallies.values(), *mutated.values()]:
        assert not tally.crashed and not tally.timed_out
    assert sum(tally.read for tally in tallies.values()) >= len(tallies)


def test_two_column_paper_reads_in_order_with_its_abstract_one_paragraph() -> None:
    text = read(REAL / "elstest-5p.pdf").text
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    abstract = paragraphs[paragraphs.index("Abstract") + 1]
    assert abstract.startswith("In this work we demonstrate")
    assert abstract.endswith("assembling the micro-spheres into a linear chain.")
    introduction = paragraphs[paragraphs.index("1. Introduction") + 1]
    assert (
        "One proposed solution to this issue is to place the crystal into a planar" in introduction
    )
    assert introduction.endswith("quadrupole origin of the excitons.")


def test_table_of_contents_leaders_are_collapsed() -> None:
    text = read(REAL / "fancyvrb-doc.pdf").text
    assert "\n4.1.1 Comments 5\n" in text
    assert ". . . ." not in text


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["bomb.docx", "bomb.epub"])
def test_zip_bombs_are_refused_from_the_directory(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasksift.documents import extracted

    kind = name.rsplit(".", 1)[1].upper()
    bomb = {"mimetype": b"application/epub+zip", "word/document.xml": b"\0" * (8 << 20)}
    with pytest.raises(Unreadable, match=rf"^{kind} entry 'word/document.xml' compressed too"):
        read(Path(name), _zip(bomb))
    many = {f"word/part{i}.xml": b"<x/>" for i in range(30)}
    monkeypatch.setattr(extracted, "MAX_ENTRIES", 20)
    with pytest.raises(Unreadable, match=rf"^{kind} with too many entries \(30; limit 20\)$"):
        read(Path(name), _zip(many))
    monkeypatch.setattr(extracted, "MAX_UNZIPPED", 100)
    with pytest.raises(Unreadable, match=rf"^{kind} too large unzipped"):
        read(Path(name), _zip({"word/document.xml": bytes(range(256))}))


def test_deep_nesting_is_unreadable_not_a_recursion_error() -> None:
    notebook = b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    depth = range(3_000)
    opened = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in depth
    )
    closed = b"".join(b"--b%d--\n" % i for i in reversed(depth))
    mail = b"Subject: deep\n" + opened + b"Content-Type: text/plain\n\nhello\n" + closed
    for name, data in [("deep.ipynb", notebook), ("deep.eml", mail)]:
        with pytest.raises(Unreadable, match="^nested too deeply to read$"):
            read(Path(name), data)
    html = b"<html><body>" + b"<div>" * 10_000 + b"deep" + b"</div>" * 10_000
    assert read(Path("deep.html"), html).text == "deep"  # Lexbor limits the depth itself


def test_epub_whose_container_names_an_unknown_encoding() -> None:
    """What the mutation pass found: ElementTree raised LookupError for "UeF-8"."""
    container = b'<?xml version="1.0" encoding="UeF-8"?><container/>'
    data = _zip({"mimetype": b"application/epub+zip", "META-INF/container.xml": container})
    with pytest.raises(Unreadable, match=r"^damaged EPUB \(META-INF/container.xml: .*UeF-8"):
        read(Path("odd.epub"), data)
