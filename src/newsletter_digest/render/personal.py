"""Personal fields: render an issue once with markers, then fill them in per recipient.

Markers are plain ASCII words, so they pass unchanged through Jinja autoescaping, MRML, CSS
inlining and URL filters; filling them in is a few ``str.replace`` calls per recipient.
"""

from __future__ import annotations

from email.utils import parseaddr as split_address
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote

from markupsafe import escape

from newsletter_digest.models import RenderedIssue

PREFIX = "x-digest-recipient-"  # every marker starts with it: one test finds them all
EMAIL = "x-digest-recipient-email-5f1c"
EMAIL_QUOTED = "x-digest-recipient-emailq-5f1c"
NAME = "x-digest-recipient-name-5f1c"
TOKEN = "x-digest-recipient-token-5f1c"  # the reader's signed unsubscribe token


class RecipientFields(NamedTuple):
    """What templates see as ``recipient``: markers until the recipient is known."""

    email: str = EMAIL
    name: str = NAME


def unsubscribe_template(url: str | None) -> str | None:
    """The configured unsubscribe URL with ``{email}`` turned into its marker."""
    return url.replace("{email}", EMAIL_QUOTED) if url else None


def unsubscribe_links(configured: str | None, base_url: str | None) -> tuple[str, ...]:
    """Where a reader unsubscribes, markers in place of their fields: with ``base_url``,
    the one-click page of ``digest serve`` (RFC 8058) first; then the configured URL."""
    links = [f"{base_url}/unsubscribe/{TOKEN}"] if base_url else []
    template = unsubscribe_template(configured)
    if template and template not in links:
        links.append(template)
    return tuple(links)


def has_markers(rendered: RenderedIssue) -> bool:
    """Whether the issue differs per recipient at all (most digests do not)."""
    parts = (rendered.subject, rendered.preheader, rendered.html, rendered.text)
    return any(PREFIX in part for part in parts)


@lru_cache(maxsize=256)
def _values(recipient: str | None) -> tuple[str, str, str]:
    """Address, URL-quoted address and display name (cached: one message fills several)."""
    if recipient is None:
        return "", "", ""
    name, address = split_address(recipient)
    return address, quote(address, safe="@"), name


def fill_text(text: str, recipient: str | None, token: str = "") -> str:
    """Fill markers in plain text (subject, text part, header values)."""
    if PREFIX not in text:
        return text
    email, quoted, name = _values(recipient)
    return (
        text.replace(EMAIL_QUOTED, quoted)
        .replace(EMAIL, email)
        .replace(NAME, name)
        .replace(TOKEN, token)
    )


def fill_html(html: str, recipient: str | None, token: str = "") -> str:
    """Fill markers in HTML, escaped for it."""
    if PREFIX not in html:
        return html
    email, quoted, name = _values(recipient)
    return (
        html.replace(EMAIL_QUOTED, str(escape(quoted)))
        .replace(EMAIL, str(escape(email)))
        .replace(NAME, str(escape(name)))
        .replace(TOKEN, str(escape(token)))
    )


def personalize(rendered: RenderedIssue, recipient: str | None) -> RenderedIssue:
    """The issue as ``recipient`` gets it; ``None`` gives the impersonal copy (outbox, web)."""
    if not has_markers(rendered):
        return rendered
    return rendered._replace(
        subject=fill_text(rendered.subject, recipient),
        preheader=fill_text(rendered.preheader, recipient),
        html=fill_html(rendered.html, recipient),
        text=fill_text(rendered.text, recipient),
    )
