"""Documents: walk a corpus directory and read each file with the reader of its kind.

Readers (one module per kind: ``plain``, ``pdf``, ``html``, ``epub``, ``docx``,
``notebook``, ``mail``) are chosen by suffix, else by sniffing the content; any other file
that is UTF-8 text is read as plain text. Skips hidden files and folders, the index folder,
what ``.gitignore`` files exclude, and binary files. A file that cannot be read is reported
with the reason and counted; the walk goes on. A reader that fails on a file (any other
exception: a bug) fails that file alone: it is counted and reported as failed. Format
libraries are imported only when a file of their kind is read.

Other packages add readers through the ``tasksift.readers`` entry point group: each entry
names a class with the ``Reader`` protocol's attributes, instantiated without arguments;
it comes before the built-in readers, so it can claim their suffixes too.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from tasksift.documents.extracted import Extracted, Reader, Section, Unreadable
from tasksift.errors import InputError, ReaderFailedError, first_line

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
READER_ENTRY_POINTS = "tasksift.readers"  # the plugin hook: more readers from other packages
_SNIFF_BYTES = 8192
# module: class, in the order content sniffing tries them (plain text comes last)
READER_CLASSES = {
    "pdf": "PdfReader",
    "epub": "EpubReader",
    "docx": "DocxReader",
    "notebook": "NotebookReader",
    "html": "HtmlReader",
    "mail": "MailReader",
    "plain": "PlainReader",
}


@dataclass(frozen=True)
class Document:
    """One document of the corpus. ``doc_id`` is its path relative to the corpus root.

    ``text`` is what its reader extracted; ``sections`` and ``pages`` locate offsets in it,
    and ``lines`` says that the offsets are the file's own, so that they map to its lines.
    ``reader`` is the reader's ``kind:version``.
    """

    doc_id: str
    text: str
    size: int = 0
    mtime_ns: int = 0
    sections: tuple[Section, ...] = ()
    pages: tuple[int, ...] = ()
    lines: bool = False
    reader: str = "text:1"

    @property
    def layout(self) -> Extracted:
        return Extracted(self.text, self.sections, self.pages, self.lines)

    @functools.cached_property
    def sha256(self) -> str:
        """Content hash of the text: what tells a changed document from a touched one."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass
class ReadReport:
    """What the walk saw besides the documents it yielded.

    Skipped files could not be indexed (binary, unreadable, empty, too large); failed
    ones are those a reader failed on (an unexpected exception, its time limit, a crash).
    ``strict`` turns the first failure into a ``ReaderFailedError``.
    """

    binary: int = 0
    unreadable: int = 0
    empty: int = 0
    too_large: int = 0
    failures: list[str] = field(default_factory=list)  # one line each, also in warnings
    warnings: list[str] = field(default_factory=list)
    strict: bool = False

    @property
    def skipped(self) -> int:
        return self.binary + self.unreadable + self.empty + self.too_large

    @property
    def failed(self) -> int:
        return len(self.failures)

    def fail(self, doc_id: str, reason: str) -> None:
        """Count a file a reader failed on (or raise, when strict)."""
        line = f"failed {doc_id}: {reason}"
        if self.strict:
            raise ReaderFailedError(f"{line} (--strict stops at the first such file)")
        self.failures.append(line)
        self.warnings.append(line)

    def merge(self, other: ReadReport) -> None:
        """Add what another walk (a worker's) saw; strict: its first failure is raised."""
        if self.strict and other.failures:
            raise ReaderFailedError(f"{other.failures[0]} (--strict stops at the first such file)")
        for name in ("binary", "unreadable", "empty", "too_large"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures.extend(other.failures)
        self.warnings.extend(other.warnings)


@dataclass(frozen=True)
class _IgnoreRule:
    base: Path
    spec: pathspec.PathSpec

    def verdict(self, path: Path, is_dir: bool) -> bool | None:
        """True: ignored, False: re-included by a ``!`` pattern, None: no pattern matches."""
        relative = path.relative_to(self.base).as_posix() + ("/" if is_dir else "")
        return self.spec.check_file(relative).include


def _ignored(rules: list[_IgnoreRule], path: Path, is_dir: bool) -> bool:
    """Git's rule: the last matching pattern wins, and deeper .gitignore files come later."""
    ignored = False
    for rule in rules:
        verdict = rule.verdict(path, is_dir)
        if verdict is not None:
            ignored = verdict
    return ignored


def _load_gitignore(directory: Path) -> _IgnoreRule | None:
    gitignore = directory / ".gitignore"
    if not gitignore.is_file():
        return None
    try:
        lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return _IgnoreRule(directory, pathspec.GitIgnoreSpec.from_lines(lines))


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def iter_text_files(root: Path, exclude: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Files under ``root`` that are not hidden, excluded or ignored, in a stable order."""
    excluded = {p.resolve() for p in exclude}
    rules: dict[Path, list[_IgnoreRule]] = {}
    for current, dirnames, filenames in os.walk(root):
        here = Path(current)
        inherited = rules.get(here, [])
        own = _load_gitignore(here)
        active = [*inherited, own] if own else inherited

        def keep(name: str, is_dir: bool, here: Path = here, active: list = active) -> bool:
            path = here / name
            if _is_hidden(name) or (is_dir and path.resolve() in excluded):  # folders only
                return False
            return not _ignored(active, path, is_dir)

        dirnames[:] = sorted(d for d in dirnames if keep(d, True))
        for d in dirnames:
            rules[here / d] = active
        for name in sorted(filenames):
            path = here / name
            if keep(name, False) and path.is_file():
                yield path


@functools.cache
def readers() -> tuple[Reader, ...]:
    """One reader per kind, in sniffing order: those of plugins (``tasksift.readers``
    entry points), then the built-in ones whose module is present, plain text last."""
    found = [*_plugin_readers()]
    for module, name in READER_CLASSES.items():
        try:
            found.append(getattr(importlib.import_module(f"tasksift.documents.{module}"), name)())
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _plugin_readers() -> list[Reader]:
    """The readers other packages declare in the ``tasksift.readers`` entry point group."""
    from importlib.metadata import entry_points

    found = []
    for entry in sorted(entry_points(group=READER_ENTRY_POINTS), key=lambda e: e.name):
        try:
            found.append(entry.load()())
        except Exception as exc:  # a broken plugin must not stop the built-in readers
            raise InputError(
                f"the reader plugin {entry.name} ({entry.value}) cannot be loaded: "
                f"{type(exc).__name__}: {first_line(exc)}"
            ) from None
    return found


def reader_versions() -> dict[str, int]:
    """``kind -> version`` of every reader: what an index records."""
    return {reader.kind: reader.version for reader in readers()}


def reader_for(path: Path, head: bytes) -> Reader | None:
    """The reader that claims ``path``'s suffix, else the first whose sniff accepts the
    content, else the plain text reader for UTF-8 text; None for other binary files."""
    name = path.name.lower()
    for reader in readers():
        if name.endswith(reader.suffixes):
            return reader
    for reader in readers():
        if reader.kind != "text" and reader.sniff(head):
            return reader
    plain = readers()[-1]
    return plain if plain.sniff(head) else None


def reader_of_suffix(path: Path) -> Reader | None:
    """The reader that claims ``path``'s suffix, without reading it."""
    name = path.name.lower()
    return next((r for r in readers() if name.endswith(r.suffixes)), None)


def read_document(
    path: Path, root: Path, report: ReadReport, max_bytes: int | None = None
) -> Document | None:
    """Read one file; None (and a count and perhaps a warning in ``report``) when skipped
    or failed. A file over ``max_bytes`` is skipped unread."""
    doc_id = path.relative_to(root).as_posix()
    try:
        stat = path.stat()
        if max_bytes is not None and stat.st_size > max_bytes:
            report.too_large += 1
            report.warnings.append(
                f"skipped {doc_id}: {_megabytes(stat.st_size)} MB, over the "
                f"{_megabytes(max_bytes)} MB limit (--max-file-size)"
            )
            return None
        data = path.read_bytes()
    except OSError as exc:
        report.unreadable += 1
        report.warnings.append(f"skipped {doc_id}: cannot read ({exc.strerror or exc})")
        return None
    reader = reader_for(path, data[:_SNIFF_BYTES])
    if reader is None:
        report.binary += 1
        return None
    try:
        extracted = reader.read(data, path)
    except Unreadable as exc:
        if reader.kind == "text" and not path.name.lower().endswith(reader.suffixes):
            report.binary += 1  # not UTF-8 and no text suffix: a binary file, silently
            return None
        report.unreadable += 1
        report.warnings.append(f"skipped {doc_id}: {exc}")
        return None
    except Exception as exc:  # a reader's bug fails its file, not the run
        report.fail(doc_id, reader_bug(exc, reader.kind))
        return None
    if not extracted.text.strip():
        report.empty += 1
        return None
    return Document(
        doc_id,
        extracted.text,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        sections=extracted.sections,
        pages=extracted.pages,
        lines=extracted.lines,
        reader=f"{reader.kind}:{reader.version}",
    )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f}".removesuffix(".0")


def reader_bug(exc: BaseException, kind: str) -> str:
    """Why a reader failed on a file, for the user: the exception, and whose bug it is."""
    if isinstance(exc, MemoryError):
        return f"the {kind} reader ran out of memory"
    what = type(exc).__name__ + (f": {first_line(exc)}" if str(exc).strip() else "")
    return f"{what} (a bug in the {kind} reader; please report it)"


def is_jsonl_corpus(path: Path) -> bool:
    return path.name.lower().endswith(JSONL_SUFFIXES)


def _open_jsonl(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            yield from handle
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def jsonl_document(line: bytes, number: int, report: ReadReport) -> Document | None:
    """One BEIR-style corpus line (``_id``, ``title``, ``text``); None when it is skipped.

    Title and text are embedded together, as BEIR and MTEB do: ``title + " " + text``.
    """
    if not line.strip():
        return None
    try:
        record = json.loads(line)
        doc_id = str(record["_id"])
        title = str(record.get("title") or "").strip()
        body = str(record.get("text") or "")
    except (ValueError, KeyError, TypeError) as exc:
        report.unreadable += 1
        reason = "no _id" if isinstance(exc, KeyError) else "not a JSON object"
        report.warnings.append(f"skipped line {number}: {reason}")
        return None
    text = f"{title} {body}" if title else body
    if not text.strip():
        report.empty += 1
        return None
    return Document(doc_id, text, size=len(line), reader="jsonl:1")


def read_jsonl_corpus(path: Path, report: ReadReport) -> Iterator[Document]:
    """Every document of a ``.jsonl`` or ``.jsonl.gz`` corpus; a repeated ``_id`` is skipped."""
    if not path.is_file():
        raise InputError(f"corpus file not found: {path}")
    seen: set[str] = set()
    for number, line in enumerate(_open_jsonl(path), start=1):
        document = jsonl_document(line, number, report)
        if document is None:
            continue
        if document.doc_id in seen:
            report.unreadable += 1
            report.warnings.append(f"skipped line {number}: repeated _id {document.doc_id!r}")
            continue
        seen.add(document.doc_id)
        yield document
