"""The HTML and EPUB readers: visible text, charsets, sections, spine order, damage."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tasksift.documents.epub import EpubReader
from tasksift.documents.extracted import Extracted, Unreadable
from tasksift.documents.html import HtmlReader

PYTHON_DOCS = Path("/usr/share/doc/python3.11/html/library/json.html")


def read_html(markup: str | bytes, name: str = "page.html") -> Extracted:
    data = markup.encode() if isinstance(markup, str) else markup
    return HtmlReader().read(data, Path(name))


PAGE = """<!DOCTYPE html>
<html><head><title>The  Page</title><style>p { color: red }</style>
<script>var secret = "script text";</script></head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><div class="logo">Site Banner</div></header>
<nav><ul><li><a href="/">Home menu</a></li></ul></nav>
<div class="sphinxsidebar" role="complementary">Sidebar text</div>
<div>Ben &amp; Jerry&#x2014;caf&eacute; <b>foo</b>bar<i> baz</i></div>
<noscript>Enable JS</noscript>
<aside>Related links</aside>
<footer>Copyright footer</footer>
</body></html>
"""


def test_html_drops_markup_and_boilerplate() -> None:
    extracted = read_html(PAGE)
    assert extracted.text == "Ben & Jerry\u2014café foobar baz"
    assert extracted.title == "The Page"
    assert not extracted.lines
    for gone in ("color", "secret", "Skip", "Banner", "menu", "Sidebar", "JS", "Related", "Copy"):
        assert gone not in extracted.text


def test_html_prefers_main() -> None:
    markup = "<html><body><div>Chrome</div><main><p>One</p><p>Two</p></main></body></html>"
    assert read_html(markup).text == "One\n\nTwo"
    role = '<html><body><p>Chrome</p><div role="main"><p>Body</p></div></body></html>'
    assert read_html(role).text == "Body"


def test_html_blocks_break_and_inline_tags_do_not() -> None:
    markup = (
        "<html><body><p>a  <em>b</em>\n c</p><ul><li>one</li><li>two</li></ul>"
        "<table><tr><td>x</td><td>y</td></tr><tr><td>z</td></tr></table>"
        "line<br>next<span>word</span><span>joined</span></body></html>"
    )
    assert read_html(markup).text == "a b c\n\none\ntwo\n\nx y\nz\n\nline\nnextwordjoined"


def test_html_pre_keeps_its_newlines() -> None:
    markup = (
        "<html><body><p>Code:</p><pre>\ndef f():\n    return  1\n</pre><p>after</p></body></html>"
    )
    assert read_html(markup).text == "Code:\n\ndef f():\n    return  1\n\nafter"


def test_html_latin1_declared_by_meta() -> None:
    markup = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
        "</head><body><p>Cr\u00e8me br\u00fbl\u00e9e</p></body></html>"
    )
    assert read_html(markup.encode("latin-1")).text == "Crème brûlée"
    short = '<html><head><meta charset="latin1"></head><body>caf\u00e9</body></html>'
    assert read_html(short.encode("latin-1")).text == "café"


def test_html_undeclared_bad_bytes_are_replaced() -> None:
    assert read_html(b"<html><body>caf\xe9 ok</body></html>").text == "caf\ufffd ok"


def test_html_headings_nest_into_sections() -> None:
    markup = (
        "<html><body><h1>Guide</h1><p>Intro.</p><h2>Install</h2><p>Run pip.</p>"
        "<h3>From <code>source</code></h3><p>Clone.</p><h2>Use</h2><p>Call it.</p>"
        "</body></html>"
    )
    extracted = read_html(markup)
    paths = [s.path for s in extracted.sections]
    assert paths == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "From source"),
        ("Guide", "Use"),
    ]
    for section in extracted.sections:
        assert extracted.text[section.start :].startswith(section.path[-1])
    assert extracted.section_at(extracted.text.index("Clone")).label == (
        "Guide > Install > From source"
    )


def test_html_without_text_is_unreadable() -> None:
    with pytest.raises(Unreadable, match="no visible text"):
        read_html("<html><head><title>T</title></head><body><script>x()</script></body></html>")


def test_xhtml_file() -> None:
    markup = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title/></head>'
        '<body><h1>Title</h1><p>First<a id="x"/> para.</p><div/><p>Second.</p></body></html>'
    )
    reader = HtmlReader()
    assert reader.sniff(markup.encode())
    extracted = read_html(markup, "page.xhtml")
    assert extracted.text == "Title\n\nFirst para.\n\nSecond."
    assert extracted.sections[0].path == ("Title",)


def test_html_sniff() -> None:
    reader = HtmlReader()
    assert reader.sniff(b"\n<!DOCTYPE HTML>\n<html>")
    assert reader.sniff(b"<HTML><body>")
    assert not reader.sniff(b"# Markdown about <html> tags")
    assert not reader.sniff(b"plain text")


@pytest.mark.skipif(not PYTHON_DOCS.is_file(), reason="python3.11-doc not installed")
def test_html_real_sphinx_page() -> None:
    extracted = HtmlReader().read(PYTHON_DOCS.read_bytes(), PYTHON_DOCS)
    assert extracted.text.startswith("json — JSON encoder and decoder")
    for chrome in ("Table of Contents", "Previous topic", "Quick search", "Theme", "Navigation"):
        assert chrome not in extracted.text
    assert "\u00b6" not in extracted.text  # Sphinx's heading permalinks
    paths = [s.path for s in extracted.sections]
    assert ("json — JSON encoder and decoder", "Basic Usage") in paths
    for section in extracted.sections:
        assert extracted.text[section.start :].startswith(section.path[-1])


def _chapter(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        f"<title>{title}</title></head><body>{body}</body></html>"
    )


CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf"
    media-type="application/oebps-package+xml"/></rootfiles>
</container>"""

OPF = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:title>A  Small Book</dc:title><dc:identifier id="id">x</dc:identifier>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="a" href="text/a.xhtml" media-type="application/xhtml+xml"/>
    <item id="b" href="text/b%20two.xhtml" media-type="application/xhtml+xml"/>
    <item id="c" href="text/c.xhtml" media-type="application/xhtml+xml"/>
    <item id="img" href="cover.png" media-type="image/png"/>
  </manifest>
  <spine><itemref idref="c"/><itemref idref="a"/><itemref idref="img"/>
    <itemref idref="b"/></spine>
</package>"""

NAV = _chapter(
    "Contents",
    '<nav epub:type="toc"><ol><li><a href="text/c.xhtml">Opening</a></li>'
    '<li><a href="text/b%20two.xhtml#s">The Epilogue</a></li></ol></nav>',
)

CHAPTERS = {
    "OEBPS/text/c.xhtml": _chapter("C", "<p>First words of the book.</p>"),
    "OEBPS/text/a.xhtml": _chapter(
        "A",
        "<section><header><h1>Chapter One</h1></header><p>Middle text.</p>"
        "<h2>A Scene</h2><p>Scene text.</p></section>",
    ),
    "OEBPS/text/b two.xhtml": _chapter("B", "<p>Last words.</p>"),
}


def build_epub(files: dict[str, str | bytes], mimetype_first: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if mimetype_first:
            archive.writestr("mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def book_files() -> dict[str, str | bytes]:
    return {
        "META-INF/container.xml": CONTAINER,
        "OEBPS/content.opf": OPF,
        "OEBPS/nav.xhtml": NAV,
        **CHAPTERS,
    }


def read_epub(data: bytes) -> Extracted:
    return EpubReader().read(data, Path("book.epub"))


def test_epub_chapters_in_spine_order_with_sections() -> None:
    data = build_epub(book_files())
    assert EpubReader().sniff(data[:8192])
    extracted = read_epub(data)
    assert extracted.title == "A Small Book"
    assert extracted.text == (
        "First words of the book.\n\nChapter One\n\nMiddle text.\n\nA Scene\n\nScene text."
        "\n\nLast words."
    )
    paths = [s.path for s in extracted.sections]
    assert paths == [("Opening",), ("Chapter One",), ("Chapter One", "A Scene"), ("The Epilogue",)]
    starts = [extracted.text[s.start :][:12] for s in extracted.sections]
    assert starts == ["First words ", "Chapter One\n", "A Scene\n\nSce", "Last words."]


def test_epub_chapter_without_toc_label_is_named_by_its_title() -> None:
    files = book_files()
    files["OEBPS/nav.xhtml"] = _chapter("Contents", "<nav epub:type='toc'><ol></ol></nav>")
    paths = [s.path for s in read_epub(build_epub(files)).sections]
    assert paths[0] == ("C",) and paths[-1] == ("B",)


def test_epub_damaged() -> None:
    data = build_epub(book_files())
    with pytest.raises(Unreadable, match=r"damaged EPUB \(.+\)"):
        read_epub(data[: len(data) // 2])
    files = book_files()
    del files["OEBPS/content.opf"]
    with pytest.raises(Unreadable, match=r"damaged EPUB \(missing OEBPS/content.opf\)"):
        read_epub(build_epub(files))
    files = book_files()
    files["OEBPS/content.opf"] = "<package><manifest>"
    with pytest.raises(Unreadable, match=r"damaged EPUB \(OEBPS/content.opf: "):
        read_epub(build_epub(files))


def test_epub_drm_is_refused_but_obfuscated_fonts_are_not() -> None:
    encryption = """<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
      xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>
      <enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData>
      </enc:EncryptedData></encryption>"""
    files = book_files()
    files["META-INF/encryption.xml"] = encryption.format(uri="OEBPS/text/a.xhtml")
    with pytest.raises(Unreadable, match=r"encrypted \(DRM\)"):
        read_epub(build_epub(files))
    files["META-INF/encryption.xml"] = encryption.format(uri="OEBPS/fonts/f.otf")
    assert read_epub(build_epub(files)).text.startswith("First words")


def test_epub_sniff() -> None:
    reader = EpubReader()
    assert not reader.sniff(build_epub(book_files(), mimetype_first=False)[:8192])
    assert not reader.sniff(b"PK\x03\x04" + b"\x00" * 60)
