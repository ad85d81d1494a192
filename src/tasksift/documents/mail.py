"""E-mail messages (.eml): subject, sender and date, then the body text.

The body is the message's text/plain part, else its text/html part turned into text,
decoded with the declared charset and transfer encoding. Attachments are not read.
Encoded-word headers (``=?utf-8?q?...?=``) are decoded. The title is the subject.
"""

from __future__ import annotations

import contextlib
import email
import re
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from pathlib import Path

from tasksift.documents.extracted import Extracted, Unreadable, nesting_guard

_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)
_KNOWN_HEADERS = frozenset(
    {
        b"from",
        b"to",
        b"cc",
        b"subject",
        b"date",
        b"received",
        b"return-path",
        b"message-id",
        b"mime-version",
        b"delivered-to",
        b"reply-to",
        b"sender",
    }
)
_SHOWN_HEADERS = ("Subject", "From", "Date")


class MailReader:
    kind = "email"
    version = 1
    suffixes = (".eml",)

    def sniff(self, head: bytes) -> bool:
        if head.startswith(b"From "):  # an mbox separator line
            head = head.partition(b"\n")[2]
        block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
        if not _HEADER_LINE.match(block):
            return False
        names = {m.group(1).lower() for m in _HEADER_LINE.finditer(block)}
        return bool(names & _KNOWN_HEADERS)

    def read(self, data: bytes, path: Path) -> Extracted:
        with nesting_guard():
            message = email.message_from_bytes(data, policy=policy.default)
            headers = {name: _header(message, name) for name in _SHOWN_HEADERS}
            body = _body(message)
        if not message.keys() and not body:
            raise Unreadable("not an e-mail message")
        lines = [f"{name}: {value}" for name, value in headers.items() if value]
        text = "\n".join(lines) + ("\n\n" + body if body else "")
        return Extracted(text.strip(), lines=False, title=headers["Subject"] or None)


def _header(message: EmailMessage, name: str) -> str:
    """The header's decoded value on one line; empty when absent."""
    try:
        value = message.get(name)
    except Exception:  # the header parser fails on some odd input; decode the raw value
        value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
        with contextlib.suppress(Exception):
            value = str(make_header(decode_header(value))) if value is not None else None
    return " ".join(str(value).split()) if value is not None else ""


def _body(message: EmailMessage) -> str:
    """The text of the plain body part, else of the HTML one; empty when there is neither."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = _decoded(part)
    if part.get_content_subtype() == "html":
        content = html_text(content)
    content = content.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in content.strip().split("\n"))


def _decoded(part: Message) -> str:
    """A text part's content, decoded with its declared charset, else UTF-8 or Windows-1252."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    for charset in (part.get_content_charset(), "utf-8", "cp1252"):
        if charset:
            try:
                return payload.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
    return payload.decode("latin-1")


def html_text(markup: str) -> str:
    """The visible text of an HTML body: the HTML reader's, else a simple conversion."""
    try:
        from tasksift.documents.html import html_to_extracted

        return html_to_extracted(markup, web=False).text
    except (ImportError, TypeError):  # no HTML reader or its library, or another signature
        return _strip_tags(markup)


_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt footer h1 h2 h3 h4 h5 h6 header hr li "
    "main nav ol p pre section table td th tr ul".split()
)
_HIDDEN_TAGS = frozenset({"script", "style", "head", "title", "template"})


class _TextCollector(HTMLParser):
    """Collects text outside hidden elements, with a line break at block boundaries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _strip_tags(markup: str) -> str:
    """Text of ``markup``: tags dropped, entities decoded, one blank line between blocks."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    lines = [" ".join(line.split()) for line in "".join(collector.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
