"""Build the issue's RFC 5322 message: multipart/alternative, text first, list headers."""

from __future__ import annotations

import binascii
import functools
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from newsletter_digest import personal
from newsletter_digest.addresses import date_header, is_simple_name, split_address
from newsletter_digest.errors import ComposeError
from newsletter_digest.models import RenderedIssue

if TYPE_CHECKING:
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.policy import EmailPolicy

# The To header of a message to many readers, none of whom it shows (an empty RFC 5322 group).
UNDISCLOSED = "undisclosed-recipients:;"
# RFC 5322's limit for any line of a message, CRLF not counted.
MAX_LINE = 998
_SLUG = re.compile(r"[^a-z0-9]+")


@functools.cache
def _policies() -> tuple[EmailPolicy[EmailMessage], EmailPolicy[EmailMessage]]:
    """The SMTP policy (CRLF line ends, lines folded well below RFC 5322's 998 octets), and
    the same for UTF-8 headers. Built on first use: most messages never need them."""
    from email import policy

    wire = policy.SMTP.clone(max_line_length=78)
    return wire, wire.clone(utf8=True)


def _header_value(name: str, value: str) -> str:
    """Refuse CR or LF in a header value: they would let content forge headers."""
    if "\r" in value or "\n" in value:
        raise ComposeError(
            f"the {name} header would contain a line break: {value!r}",
            f"remove line breaks from what makes the {name} (config or template)",
        )
    return value


def _mailbox(value: str) -> tuple[str, str, str]:
    """(display name, local part, domain) of 'Name <a@b>'; ComposeError if it is no address."""
    _header_value("address", value)
    name, addr = split_address(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise ComposeError(f"{value!r} is not an email address", "use the form a@example.org")
    return name, local, domain


def to_address(value: str) -> Address:
    """Parse 'Name <a@b>' into an Address; non-ASCII display names are encoded later."""
    from email.headerregistry import Address

    name, local, domain = _mailbox(value)
    return Address(display_name=name, username=local, domain=domain)


def new_message_id(sender: str, issue_number: int) -> str:
    """A unique Message-ID on the sender's domain, so providers can tie it to the sender.

    The form of ``email.utils.make_msgid``: time, process, 64 random bits, the issue.
    """
    domain = _mailbox(sender)[2]
    unique = f"{int(time.time() * 100)}.{os.getpid()}.{int.from_bytes(os.urandom(8), 'big')}"
    return f"<{unique}.digest.{issue_number}@{domain}>"


def list_id(title: str, sender: str) -> str:
    """RFC 2919 List-Id: the newsletter title and a stable id under the sender's domain."""
    slug = _SLUG.sub("-", title.lower()).strip("-") or "digest"
    domain = _mailbox(sender)[2]
    label = title.replace('"', "'")
    return f'"{label}" <{slug[:40]}.{domain}>'


def compose(
    rendered: RenderedIssue,
    *,
    sender: str,
    recipients: Sequence[str],
    date: datetime,
    message_id: str,
    unsubscribe: str | None,
    list_name: str | None = None,
) -> EmailMessage:
    """One complete message for the issue; several recipients are kept out of sight.

    The standard library's way, all of it: the reference :class:`MessageFactory` is tested
    against, and the naive path of the benchmarks.
    """
    from email.headerregistry import Group
    from email.message import EmailMessage
    from email.utils import format_datetime

    msg = EmailMessage(policy=_policies()[0])
    msg["From"] = to_address(sender)
    if len(recipients) == 1:
        msg["To"] = to_address(recipients[0])
    elif recipients:
        # Never show a whole list of readers to each other.
        msg["To"] = Group("undisclosed-recipients")
    else:
        msg["To"] = to_address(sender)
    msg["Subject"] = _header_value("Subject", rendered.subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = _header_value("Message-ID", message_id)
    if list_name:
        msg["List-Id"] = _header_value("List-Id", list_name)
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{_header_value('List-Unsubscribe', unsubscribe)}>"
        if unsubscribe.startswith("https://"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["MIME-Version"] = "1.0"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg


def to_bytes(msg: EmailMessage, *, utf8: bool = False) -> bytes:
    """The message as it goes on the wire and into the .eml file (CRLF, folded lines).

    ``utf8`` keeps non-ASCII addresses as UTF-8 (RFC 6531), for servers with SMTPUTF8.
    """
    return msg.as_bytes(policy=_policies()[1 if utf8 else 0])


Fill = Callable[[str, str | None], str]
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
# What the email package decodes as an RFC 2047 encoded word, even mid-word: one closed by
# "?=" (email.header.ecre), or a Q word whose text starts "=XX", which its parser reads on
# to the next "?=" or the end of the header. Text with a "=?" that matches neither reads
# back as it is written.
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[qQbB]\?(?:.*?\?=|=[0-9A-Fa-f]{2})")


def _verbatim(name: str, value: str) -> bool:
    """Plain ASCII that needs no encoding or folding: most headers of most messages."""
    if not value.isascii() or "=?" in value or len(name) + len(value) + 4 > MAX_LINE:
        return False
    if name == "Subject":
        return len(name) + len(value) + 2 <= 78
    return name != "To" or _PLAIN_ADDRESS.fullmatch(value) is not None


def _fold(name: str, value: str | Address, *, utf8: bool = False) -> bytes:
    """One header line (folded, RFC 2047-encoded where needed), as the slow path writes it."""
    if isinstance(value, str) and _verbatim(name, _header_value(name, value)):
        return f"{name}: {value}\r\n".encode("ascii")
    if name == "Subject" and isinstance(value, str):
        encoded = _encoded_subject(value)
        if encoded is not None:
            return encoded
    wire = _policies()[1 if utf8 else 0]
    header_name, header = wire.header_store_parse(name, value)
    return wire.fold_binary(header_name, header)


def _folded_at_spaces(name: str, value: str, limit: int = 78) -> str | None:
    """``name: value`` folded before spaces, lines within ``limit`` where the words allow.

    A word too long for that gets a line of its own (RFC 5322 allows up to 998 characters);
    None when even that is too long. Unfolding (dropping each CRLF) gives the line back
    exactly, as RFC 5322 requires.
    """
    line = f"{name}: {value}"
    lines: list[str] = []
    start, first_word = 0, len(name) + 2
    while len(line) - start > limit:
        low = max(start + 1, first_word)
        cut = line.rfind(" ", low, start + limit + 1)
        if cut < 0:
            cut = line.find(" ", low)  # after the long word, which has the line to itself
            if cut < 0:
                break
        lines.append(line[start:cut])
        start = cut
    lines.append(line[start:])
    return None if any(len(part) > MAX_LINE for part in lines) else "\r\n".join(lines) + "\r\n"


def _encoded_subject(value: str) -> bytes | None:
    """A long or non-ASCII subject, folded (and RFC 2047-encoded where it must be).

    Plain ASCII words are folded here; anything else by ``email.header``, which imports in
    3 ms where ``email.policy`` takes 24. Decoded, both give the text the policy's line
    gives. None when the result would not do (a word too long to fold, or text a reader
    would decode as an encoded word), so the policy writes it.
    """
    if "=?" in value and _ENCODED_WORD.search(value):
        return None
    if value.isascii() and value.isprintable() and " ".join(value.split()) == value:
        folded = _folded_at_spaces("Subject", value)
        if folded is not None:
            return folded.encode("ascii")
    from email.header import Header

    charset = "us-ascii" if value.isascii() else "utf-8"
    folded = Header(value, charset, maxlinelen=78, header_name="Subject").encode(linesep="\r\n")
    line = f"Subject: {folded}\r\n"
    if any(len(part) > 78 for part in line.split("\r\n")) or not line.isascii():
        return None
    return line.encode("ascii")


@functools.lru_cache(maxsize=64)
def _from_header(sender: str) -> bytes:
    """The From line; cached, since one run (or one process pool worker) has one sender.

    A sender of plain words and an ASCII address is written as it is (the policy would
    write the same); anything else is left to the standard library.
    """
    name, local, domain = _mailbox(sender)
    address = f"{local}@{domain}"
    line = f"From: {name} <{address}>" if name else f"From: {address}"
    plain = not name or is_simple_name(name)
    if plain and _PLAIN_ADDRESS.fullmatch(address) and len(line) <= 78:
        return f"{line}\r\n".encode("ascii")
    return _fold("From", to_address(sender))


def _qp_line(line: str) -> bytes:
    """One line, quoted-printable, with its CRLF (lines encode independently in QP)."""
    return binascii.b2a_qp(line.encode("utf-8") + b"\r\n", quotetabs=False, istext=True)


def _qp_lines(lines: list[str]) -> bytes:
    """Several lines, quoted-printable, each with its CRLF: the same bytes as line by line."""
    text = "".join(f"{line}\r\n" for line in lines)
    return binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True)


class _Part:
    """A text/* part encoded once: lines without personal fields are kept as bytes, so a
    recipient costs only the encoding of the few lines that carry their fields."""

    def __init__(self, boundary: str, subtype: str, body: str, fill: Fill) -> None:
        self._head = (
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._fill = fill
        lines = body.replace("\r\n", "\n").split("\n")
        if lines[-1] == "" and len(lines) > 1:
            lines.pop()  # an empty body stays one empty line, as the standard library has it
        # Runs of lines without fields are encoded in one call each (QP encodes line by
        # line, so that is the same bytes); lines with fields stay text for encode().
        self._lines: list[bytes | str] = []
        run: list[str] = []
        for line in lines:
            if _has_marker(line):
                if run:
                    self._lines.append(_qp_lines(run))
                    run = []
                self._lines.append(line)
            else:
                run.append(line)
        if run:
            self._lines.append(_qp_lines(run))
        # The CRLF before a boundary belongs to the boundary (RFC 2046), so one more keeps
        # the body's last line break, as the standard library's generator does.
        self._lines.append(b"\r\n")
        encoded = [line for line in self._lines if isinstance(line, bytes)]
        self._static = self._head + b"".join(encoded) if len(encoded) == len(self._lines) else None

    def encode(self, recipient: str | None) -> bytes:
        """The part for one recipient (None: personal fields blank)."""
        if self._static is not None:
            return self._static
        return self._head + b"".join(
            line if isinstance(line, bytes) else _qp_line(self._fill(line, recipient))
            for line in self._lines
        )


def _has_marker(text: str) -> bool:
    return personal.PREFIX in text


class MessageFactory:
    """Serialises an issue once; each recipient's message is a few headers plus shared bytes.

    Equivalent in meaning to :func:`compose` (same headers, same decoded parts), at a small
    fraction of the cost: the bodies are encoded once; where they carry personal fields, only
    the lines holding them are encoded again for each recipient.
    """

    def __init__(
        self,
        rendered: RenderedIssue,
        *,
        sender: str,
        date: datetime,
        unsubscribe: str | None,
        list_name: str | None = None,
    ) -> None:
        self._rendered = rendered
        self._unsubscribe = unsubscribe
        self._boundary = f"=_digest_{uuid.uuid4().hex[:16]}"
        self._from = _from_header(sender)
        common = [_fold("Date", date_header(date))]
        if list_name:
            common.append(_fold("List-Id", list_name))
        self._common = b"".join(common)
        self._subject = (
            None if _has_marker(rendered.subject) else _fold("Subject", rendered.subject)
        )
        self._mime = (
            b"MIME-Version: 1.0\r\n"
            + f'Content-Type: multipart/alternative; boundary="{self._boundary}"\r\n\r\n'.encode()
        )
        self._text = _Part(self._boundary, "plain", rendered.text, personal.fill_text)
        self._html = _Part(self._boundary, "html", rendered.html, personal.fill_html)
        self._end = f"--{self._boundary}--\r\n".encode()

    def message(self, recipient: str | None, message_id: str, *, to: str | None = None) -> bytes:
        """The complete message for one recipient, ready for ``sendmail`` or an .eml file.

        ``to`` replaces the To header: an address, or :data:`UNDISCLOSED` (the outbox copy
        of an issue with many readers shows none of them). Personal fields are then
        ``recipient``'s, or blank with None.
        """
        p = personal
        shown = recipient if to is None else to
        if shown is None:
            raise ValueError("a message needs a recipient or a To header")
        utf8 = recipient is not None and not recipient.isascii()
        if shown == UNDISCLOSED:
            to_line = f"To: {UNDISCLOSED}\r\n".encode()
        elif _PLAIN_ADDRESS.fullmatch(shown):
            to_line = _fold("To", shown, utf8=utf8)
        else:
            to_line = _fold("To", to_address(shown), utf8=utf8)
        head = [self._from, to_line]
        head.append(
            self._subject or _fold("Subject", p.fill_text(self._rendered.subject, recipient))
        )
        head.append(self._common)
        head.append(_fold("Message-ID", message_id))
        if self._unsubscribe:
            url = p.fill_text(self._unsubscribe, recipient)
            head.append(_fold("List-Unsubscribe", f"<{url}>"))
            if url.startswith("https://"):
                head.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        text = self._text.encode(recipient)
        html = self._html.encode(recipient)
        return b"".join((*head, self._mime, text, html, self._end))
