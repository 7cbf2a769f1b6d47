"""Build the issue's RFC 5322 messages: multipart/alternative, text first, list headers.

The issue is serialised once; each recipient's message is its own few header lines (made by
:mod:`headers`, the one place header text is encoded) in front of the shared body bytes.
"""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import make_msgid

from newsletter_digest.mail import headers
from newsletter_digest.models import RenderedIssue
from newsletter_digest.render import personal

# The To header of a message to many readers, none of whom it shows (an empty RFC 5322 group).
UNDISCLOSED = "undisclosed-recipients:;"
MAX_LINE = headers.MAX_LINE


def new_message_id(sender: str, issue_number: int) -> str:
    """A unique Message-ID on the sender's domain, so providers can tie it to the sender."""
    domain = headers.ascii_address(headers.split_mailbox(sender)[1]).rpartition("@")[2]
    return make_msgid(f"digest.{issue_number}", domain)


list_id = headers.list_id
Fill = Callable[[str, str | None, str], str]


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

    def encode(self, recipient: str | None, token: str = "") -> bytes:
        """The part for one recipient (None: personal fields blank)."""
        if self._static is not None:
            return self._static
        return self._head + b"".join(
            line if isinstance(line, bytes) else _qp_line(self._fill(line, recipient, token))
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
        unsubscribe: str | Sequence[str] | None,
        list_name: str | None = None,
        feedback_id: str | None = None,
    ) -> None:
        self._rendered = rendered
        # List-Unsubscribe targets, markers in place of each reader's fields.
        links = (unsubscribe,) if isinstance(unsubscribe, str) else unsubscribe
        self._unsubscribe = tuple(links or ())
        self._boundary = f"=_digest_{uuid.uuid4().hex[:16]}"
        self._from = headers.line("From", headers.mailbox(sender))
        common = [headers.line("Date", headers.date(date))]
        if list_name:
            common.append(headers.line("List-Id", list_name))
        if feedback_id:
            common.append(
                headers.line("Feedback-ID", headers.encode_text("Feedback-ID", feedback_id))
            )
        self._common = b"".join(common)
        self._subject = None if _has_marker(rendered.subject) else _subject(rendered.subject)
        self._mime = (
            b"MIME-Version: 1.0\r\n"
            + f'Content-Type: multipart/alternative; boundary="{self._boundary}"\r\n\r\n'.encode()
        )
        self._text = _Part(self._boundary, "plain", rendered.text, personal.fill_text)
        self._html = _Part(self._boundary, "html", rendered.html, personal.fill_html)
        self._end = f"--{self._boundary}--\r\n".encode()

    def message(
        self, recipient: str | None, message_id: str, *, to: str | None = None, token: str = ""
    ) -> bytes:
        """The complete message for one recipient, ready for ``sendmail`` or an .eml file.

        ``to`` replaces the To header: an address, or :data:`UNDISCLOSED` (the outbox copy
        of an issue with many readers shows none of them). Personal fields are then
        ``recipient``'s (``token`` their signed unsubscribe token), or blank with None.
        """
        shown = recipient if to is None else to
        if shown is None:
            raise ValueError("a message needs a recipient or a To header")
        if shown == UNDISCLOSED:
            to_line = headers.line("To", UNDISCLOSED)
        else:
            name, address = headers.split_mailbox(shown)
            utf8 = not address.rpartition("@")[0].isascii()
            to_line = headers.line(
                "To", headers.encode_mailbox(name, address, utf8=utf8), utf8=utf8
            )
        fill = personal.fill_text
        subject = self._subject or _subject(fill(self._rendered.subject, recipient, token))
        head = [self._from, to_line, subject, self._common]
        head.append(headers.line("Message-ID", message_id))
        if self._unsubscribe:
            urls = [fill(url, recipient, token) for url in self._unsubscribe]
            targets = ", ".join(f"<{url}>" for url in urls)
            head.append(headers.line("List-Unsubscribe", headers.fold_list(targets)))
            if urls[0].startswith("https://"):  # RFC 8058: the https URI answers a POST
                head.append(headers.line("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        text = self._text.encode(recipient, token)
        html = self._html.encode(recipient, token)
        return b"".join((*head, self._mime, text, html, self._end))


def _subject(text: str) -> bytes:
    return headers.line("Subject", headers.encode_text("Subject", text))
