"""Documents: walk a corpus directory and read the files that are text.

Skips hidden files and folders, the index folder, what ``.gitignore`` files exclude, and
binary files. A file that cannot be read or decoded is reported and counted; the walk goes
on. Nothing heavy is imported here.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from tasksift.errors import InputError

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst", ".text"})
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Document:
    """One text document of the corpus. ``doc_id`` is its path relative to the corpus root."""

    doc_id: str
    text: str
    size: int = 0
    mtime_ns: int = 0

    @functools.cached_property
    def sha256(self) -> str:
        """Content hash of the text: what tells a changed document from a touched one."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass
class ReadReport:
    """What the walk saw besides the documents it yielded."""

    binary: int = 0
    unreadable: int = 0
    empty: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.binary + self.unreadable + self.empty


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
            if _is_hidden(name) or path.resolve() in excluded:
                return False
            return not _ignored(active, path, is_dir)

        dirnames[:] = sorted(d for d in dirnames if keep(d, True))
        for d in dirnames:
            rules[here / d] = active
        for name in sorted(filenames):
            path = here / name
            if keep(name, False) and path.is_file():
                yield path


def _decode(path: Path, data: bytes) -> str | None:
    """The text of ``data``, or None when it is binary."""
    if b"\x00" in data[:_SNIFF_BYTES]:
        return None
    return data.decode("utf-8-sig")


def read_document(path: Path, root: Path, report: ReadReport) -> Document | None:
    """Read one file; None (and a count in ``report``) when it is skipped."""
    doc_id = path.relative_to(root).as_posix()
    try:
        stat = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        report.unreadable += 1
        report.warnings.append(f"skipped {doc_id}: cannot read ({exc.strerror or exc})")
        return None
    try:
        text = _decode(path, data)
    except UnicodeDecodeError as exc:
        if path.suffix.lower() in TEXT_SUFFIXES:
            report.unreadable += 1
            report.warnings.append(
                f"skipped {doc_id}: not valid UTF-8 (byte {exc.start}: {exc.reason})"
            )
        else:
            report.binary += 1
        return None
    if text is None:
        report.binary += 1
        return None
    if not text.strip():
        report.empty += 1
        return None
    return Document(doc_id, text, size=stat.st_size, mtime_ns=stat.st_mtime_ns)


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
    return Document(doc_id, text, size=len(line))


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
