"""Build the issue's RFC 5322 message: multipart/alternative, text first, list headers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address, Group
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from newsletter_digest.errors import ComposeError
from newsletter_digest.models import RenderedIssue

# SMTP policy: CRLF line ends and lines folded well below RFC 5322's 998-octet limit.
WIRE_POLICY = policy.SMTP.clone(max_line_length=78)
_SLUG = re.compile(r"[^a-z0-9]+")


def _header_value(name: str, value: str) -> str:
    """Refuse CR or LF in a header value: they would let content forge headers."""
    if "\r" in value or "\n" in value:
        raise ComposeError(
            f"the {name} header would contain a line break: {value!r}",
            f"remove line breaks from what makes the {name} (config or template)",
        )
    return value


def to_address(value: str) -> Address:
    """Parse 'Name <a@b>' into an Address; non-ASCII display names are encoded later."""
    _header_value("address", value)
    name, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise ComposeError(f"{value!r} is not an email address", "use the form a@example.org")
    return Address(display_name=name, username=local, domain=domain)


def new_message_id(sender: str, issue_number: int) -> str:
    """A unique Message-ID on the sender's domain, so providers can tie it to the sender."""
    domain = to_address(sender).domain
    return make_msgid(idstring=f"digest.{issue_number}", domain=domain)


def list_id(title: str, sender: str) -> str:
    """RFC 2919 List-Id: the newsletter title and a stable id under the sender's domain."""
    slug = _SLUG.sub("-", title.lower()).strip("-") or "digest"
    domain = to_address(sender).domain
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
    """One complete message for the issue; several recipients are kept out of sight."""
    msg = EmailMessage(policy=WIRE_POLICY)
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


def to_bytes(msg: EmailMessage) -> bytes:
    """The message as it goes on the wire and into the .eml file (CRLF, folded lines)."""
    return msg.as_bytes(policy=WIRE_POLICY)
