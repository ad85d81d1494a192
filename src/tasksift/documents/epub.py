"""EPUB 2 and 3: the chapters' text in spine order, their headings as sections.

``META-INF/container.xml`` names the OPF package, whose manifest and spine give the
chapters; each chapter's XHTML goes through the HTML reader's extraction (selectolax), and
chapters are joined with blank lines. A chapter that does not open with a heading gets a
section named after its table-of-contents label (EPUB 3 nav document or EPUB 2 NCX), else
its ``<title>``. Only the standard library reads the container (zipfile, xml.etree):
ebooklib is AGPL. A book whose content documents are listed in ``META-INF/encryption.xml``
is DRM-protected; obfuscated fonts alone are not.
"""

from __future__ import annotations

import io
import posixpath
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from tasksift.documents.extracted import (
    Extracted,
    Section,
    Unreadable,
    check_zip,
    nesting_guard,
)
from tasksift.documents.html import decode_html, html_to_extracted

_MIMETYPE = b"application/epub+zip"
_CHAPTER_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_NCX_TYPE = "application/x-dtbncx+xml"
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


@dataclass(frozen=True)
class _Package:
    """What the OPF says: the title, the chapters (zip names in spine order), the TOC."""

    title: str | None
    chapters: tuple[str, ...]
    nav: str | None  # EPUB 3 navigation document
    ncx: str | None  # EPUB 2 table of contents


class EpubReader:
    kind = "epub"
    version = 1
    suffixes = (".epub",)

    def sniff(self, head: bytes) -> bool:
        return (
            head.startswith(b"PK\x03\x04")
            and head[30:38] == b"mimetype"
            and (_MIMETYPE in head[38:120])
        )

    def read(self, data: bytes, path: Path) -> Extracted:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise Unreadable("damaged EPUB (not a zip file, or truncated)") from None
        except (*_ZIP_ERRORS, ValueError) as exc:
            raise Unreadable(f"damaged EPUB ({exc})") from None
        with archive, nesting_guard():
            check_zip(archive, "EPUB")
            package = _package(archive)
            if _encrypted(archive, package.chapters):
                raise Unreadable("encrypted (DRM)")
            labels = _toc_labels(archive, package)
            chapters = [
                (html_to_extracted(decode_html(_read(archive, name)), web=False), labels.get(name))
                for name in package.chapters
                if _has(archive, name)
            ]
        extracted = _join(chapters, package.title)
        if not extracted.text:
            raise Unreadable("no visible text")
        return extracted


def _has(archive: zipfile.ZipFile, name: str) -> bool:
    try:
        archive.getinfo(name)
    except KeyError:
        return False
    return True


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise Unreadable(f"damaged EPUB (missing {name})") from None
    except (*_ZIP_ERRORS, RuntimeError) as exc:
        raise Unreadable(f"damaged EPUB ({name}: {exc})") from None


def _xml(archive: zipfile.ZipFile, name: str) -> ET.Element:
    try:
        return ET.fromstring(_read(archive, name))
    except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: unknown encoding
        raise Unreadable(f"damaged EPUB ({name}: {exc})") from None


def _resolve(base: str, href: str) -> str:
    """The zip name of ``href`` (URL-encoded, perhaps with a fragment) relative to ``base``."""
    target = unquote(href.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), target)).lstrip("/")


def _package(archive: zipfile.ZipFile) -> _Package:
    rootfile = _xml(archive, "META-INF/container.xml").find(".//{*}rootfile[@full-path]")
    if rootfile is None:
        raise Unreadable("damaged EPUB (no package in META-INF/container.xml)")
    opf_name = rootfile.attrib["full-path"].lstrip("/")
    opf = _xml(archive, opf_name)
    items = {
        item.get("id"): item
        for item in opf.iterfind("{*}manifest/{*}item")
        if item.get("href") is not None
    }
    spine = opf.find("{*}spine")
    if spine is None or not items:
        raise Unreadable(f"damaged EPUB (no manifest or spine in {opf_name})")
    chapters = []
    for ref in spine.iterfind("{*}itemref"):
        item = items.get(ref.get("idref"))
        if item is not None and item.get("media-type") in _CHAPTER_TYPES:
            chapters.append(_resolve(opf_name, item.attrib["href"]))
    nav = next((i for i in items.values() if "nav" in (i.get("properties") or "").split()), None)
    ncx = items.get(spine.get("toc")) or next(
        (i for i in items.values() if i.get("media-type") == _NCX_TYPE), None
    )
    title = " ".join((opf.findtext("{*}metadata/{*}title") or "").split())
    return _Package(
        title=title or None,
        chapters=tuple(dict.fromkeys(chapters)),
        nav=_resolve(opf_name, nav.attrib["href"]) if nav is not None else None,
        ncx=_resolve(opf_name, ncx.attrib["href"]) if ncx is not None else None,
    )


def _encrypted(archive: zipfile.ZipFile, chapters: tuple[str, ...]) -> bool:
    """Whether ``META-INF/encryption.xml`` lists a chapter (DRM), not just fonts."""
    if not _has(archive, "META-INF/encryption.xml"):
        return False
    encryption = _xml(archive, "META-INF/encryption.xml")
    listed = {
        _resolve("", ref.get("URI", "")) for ref in encryption.iterfind(".//{*}CipherReference")
    }
    return not listed.isdisjoint(chapters)


def _toc_labels(archive: zipfile.ZipFile, package: _Package) -> dict[str, str]:
    """The first table-of-contents label of each chapter; {} when the TOC is unreadable."""
    try:
        if package.nav and _has(archive, package.nav):
            return _nav_labels(package.nav, _read(archive, package.nav))
        if package.ncx and _has(archive, package.ncx):
            return _ncx_labels(package.ncx, _xml(archive, package.ncx))
    except Unreadable:
        pass
    return {}


def _nav_labels(name: str, data: bytes) -> dict[str, str]:
    from selectolax.lexbor import LexborHTMLParser

    navs = LexborHTMLParser(decode_html(data)).css("nav")
    toc = next((n for n in navs if n.attributes.get("epub:type") == "toc"), None)
    root = toc or (navs[0] if navs else None)
    labels: dict[str, str] = {}
    if root is None:
        return labels
    for link in root.css("a[href]"):
        label = " ".join(link.text().split())
        if label:
            labels.setdefault(_resolve(name, link.attributes["href"] or ""), label)
    return labels


def _ncx_labels(name: str, ncx: ET.Element) -> dict[str, str]:
    labels: dict[str, str] = {}
    for point in ncx.iterfind(".//{*}navPoint"):
        label = " ".join((point.findtext("{*}navLabel/{*}text") or "").split())
        content = point.find("{*}content")
        if label and content is not None and content.get("src"):
            labels.setdefault(_resolve(name, content.attrib["src"]), label)
    return labels


def _join(chapters: list[tuple[Extracted, str | None]], title: str | None) -> Extracted:
    """The chapters' texts joined with blank lines, their sections moved to match."""
    texts: list[str] = []
    sections: list[Section] = []
    offset = 0
    for chapter, label in chapters:
        if not chapter.text:
            continue
        if texts:
            offset += 2
        name = label or chapter.title
        if name and not (chapter.sections and chapter.sections[0].start == 0):
            sections.append(Section(offset, (name,)))
        sections.extend(Section(offset + s.start, s.path) for s in chapter.sections)
        texts.append(chapter.text)
        offset += len(chapter.text)
    return Extracted("\n\n".join(texts), tuple(sections), title=title)
