"""Batch queries: read a query file (or stdin) and relevance judgments.

A query file holds one query a line in any of three shapes, which may be mixed:
``plain text`` (its id is the line number), ``id<TAB>query``, or a JSON object with
``_id`` and ``text`` (BEIR's queries.jsonl). Lines that cannot be used are reported with
their line number and skipped; the rest are answered.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from tasksift.errors import InputError

MAX_QUERY_CHARS = 4096


@dataclass(frozen=True)
class Query:
    qid: str
    text: str
    line: int


@dataclass
class QueryFile:
    queries: list[Query] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line N: why", in line order


def _read_bytes(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"query file not found: {source}") from None
    except OSError as exc:
        raise InputError(f"cannot read query file {source}: {exc.strerror}") from None
    return gzip.decompress(data) if source.endswith(".gz") else data


def _parse_line(raw: bytes, number: int) -> Query | str:
    """A query, or the reason the line is skipped."""
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start})"
    if number == 1:
        line = line.lstrip("\ufeff")
    if line.lstrip().startswith("{"):
        try:
            record = json.loads(line)
            qid, text = str(record["_id"]), str(record["text"])
        except (ValueError, KeyError, TypeError):
            return "JSON line without _id and text"
    elif "\t" in line:
        qid, text = line.split("\t", 1)
        qid = qid.strip() or str(number)
    else:
        qid, text = str(number), line
    text = text.strip()
    if not text:
        return "empty query"
    if len(text) > MAX_QUERY_CHARS:
        return f"query of {len(text)} characters (at most {MAX_QUERY_CHARS})"
    return Query(qid, text, number)


def read_queries(source: str) -> QueryFile:
    """Queries from a file path, or from stdin when ``source`` is ``-``."""
    result = QueryFile()
    seen: set[str] = set()
    for number, raw in enumerate(_read_bytes(source).splitlines(), start=1):
        parsed = _parse_line(raw, number)
        if isinstance(parsed, str):
            result.problems.append(f"line {number}: {parsed}")
        elif parsed.qid in seen:
            result.problems.append(f"line {number}: repeated query id {parsed.qid!r}")
        else:
            seen.add(parsed.qid)
            result.queries.append(parsed)
    return result


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Relevance judgments ``{qid: {docid: grade}}`` from TREC or BEIR TSV form.

    TREC: ``qid 0 docid rel`` (whitespace-separated). BEIR: a ``query-id corpus-id score``
    header, then tab-separated rows (a document id may hold spaces there). Grades are kept
    as the gain of graded measures.
    """
    lines = _lines(path, "qrels")
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(lines, start=1):
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split()
        if not fields or (number == 1 and fields[0].lower() in {"query-id", "qid", "query_id"}):
            continue
        if len(fields) == 4:
            qid, _, docid, grade = fields
        elif len(fields) == 3:
            qid, docid, grade = fields
        else:
            raise InputError(f"{path} line {number}: expected 'qid 0 docid rel' or 'qid docid rel'")
        try:
            qrels.setdefault(qid, {})[docid] = int(float(grade))
        except ValueError:
            raise InputError(f"{path} line {number}: relevance {grade!r} is not a number") from None
    if not qrels:
        raise InputError(f"no relevance judgments in {path}")
    return qrels


def read_run(path: Path) -> dict[str, dict[str, float]]:
    """A TREC run ``qid Q0 docid rank score tag`` as ``{qid: {docid: score}}`` (the first
    score of a document listed twice for a query is kept). Ids are percent-decoded, as
    ``search --format trec`` encodes those with whitespace or ``%``."""
    lines = _lines(path, "run")
    run: dict[str, dict[str, float]] = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise InputError(f"{path} line {number}: expected 'qid Q0 docid rank score tag'")
        qid, _, docid, _, score, _ = fields
        try:
            run.setdefault(qid, {}).setdefault(_run_docid(docid), float(score))
        except ValueError:
            raise InputError(f"{path} line {number}: score {score!r} is not a number") from None
    if not run:
        raise InputError(f"no results in run file {path}")
    return run


def _run_docid(docid: str) -> str:
    """The id a TREC run names, percent-decoded as ``search --format trec`` encodes ids
    with whitespace or ``%``."""
    return unquote(docid) if "%" in docid else docid


def describe_skipped(problems: Iterable[str]) -> str:
    problems = list(problems)
    return f"{len(problems)} quer{'y' if len(problems) == 1 else 'ies'} skipped"


def _lines(path: Path, what: str) -> list[str]:
    """The lines of a UTF-8 file, or an ``InputError`` naming it as the ``what`` file."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} file {path}: {exc}") from None
