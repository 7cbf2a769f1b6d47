"""Checks on a finished message, as the preview's checks panel shows them.

Everything is read from the message's bytes (the same bytes the outbox gets), not from the
templates, so a check passes only if the real email passes it.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Literal

from newsletter_digest.render import renderer
from newsletter_digest.render.markdown import is_safe_url

Status = Literal["ok", "warn", "fail"]

GMAIL_CLIP_BYTES = renderer.GMAIL_CLIP_BYTES
SUBJECT_SHOWN = 60
PREHEADER_MIN = 20
PREHEADER_SHOWN = 140
# Characters templates pad a preheader with, so inboxes do not pull body text after it.
_PADDING = "\u034f\u200c\u00a0\u200b\u2007\u00ad \t\r\n"
_VOID_TAGS = "area base br col embed hr img input link meta source track wbr"
_VOID = frozenset(_VOID_TAGS.split())


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checks panel."""

    name: str
    status: Status
    detail: str


class _Scan(HTMLParser):
    """One pass over the HTML: link targets, images and the hidden preheader."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[tuple[str, str | None]] = []
        self.preheader: str | None = None
        self._in_body = False
        self._first_in_body = True
        self._hidden_depth = 0
        self._hidden_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("a", "area") and values.get("href") is not None:
            self.links.append(values["href"] or "")
        elif tag == "img":
            self.images.append((values.get("src") or "", values.get("alt")))
        if tag == "body":
            self._in_body = True
        elif self._hidden_depth:
            self._hidden_depth += tag not in _VOID
        elif self._in_body and self._first_in_body:
            # The preheader is the first hidden element in the body, before any text shows
            # (inside whatever wrappers the MJML compiler puts around the body).
            style = (values.get("style") or "").replace(" ", "").lower()
            if "display:none" in style and tag not in _VOID:
                self._first_in_body = False
                self._hidden_depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self._hidden_depth and tag not in _VOID:
            self._hidden_depth -= 1
            if not self._hidden_depth:
                self.preheader = " ".join("".join(self._hidden_text).strip(_PADDING).split())

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            self._hidden_text.append(data)
        elif self._in_body and self._first_in_body and data.strip():
            self._first_in_body = False


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a mail client takes from a message: headers, the two parts, the preheader.

    ``html_bytes`` is the HTML part's size as sent (CRLF line ends), which is what Gmail counts.
    """

    message: EmailMessage
    html: str | None
    html_bytes: int
    text: str | None
    preheader: str | None
    links: tuple[str, ...]
    images: tuple[tuple[str, str | None], ...]

    def header(self, name: str) -> str:
        """A header as a mail client shows it (decoded), or "" when it is missing."""
        value = self.message[name]
        return str(value) if value is not None else ""


def _lf(value: str | None) -> str | None:
    """Line ends as a page shows them (the message has CRLF, as on the wire)."""
    return value.replace("\r\n", "\n") if value is not None else None


def parse(eml: bytes) -> Parsed:
    """Read a complete message: its text and HTML parts and what the HTML contains."""
    message = email.message_from_bytes(eml, policy=policy.default)
    assert isinstance(message, EmailMessage)
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    wire_html = html_part.get_content() if html_part is not None else None
    html = _lf(wire_html)
    text = _lf(text_part.get_content() if text_part is not None else None)
    scan = _Scan()
    if html is not None:
        scan.feed(html)
        scan.close()
    return Parsed(
        message=message,
        html=html,
        html_bytes=len(wire_html.encode("utf-8")) if wire_html is not None else 0,
        text=text,
        preheader=scan.preheader,
        links=tuple(scan.links),
        images=tuple(scan.images),
    )


def _few(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(item[:80]) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def html_size(parsed: Parsed) -> Check:
    """The HTML part against Gmail's clipping limit."""
    if parsed.html is None:
        return Check("HTML size", "fail", "the message has no HTML part")
    size = parsed.html_bytes
    shown = f"{size / 1024:.1f} KB of Gmail's {GMAIL_CLIP_BYTES // 1024} KB limit"
    if size >= GMAIL_CLIP_BYTES:
        return Check("HTML size", "fail", f"{shown}: Gmail clips the rest of the email")
    if size >= GMAIL_CLIP_BYTES * 0.8:
        return Check("HTML size", "warn", f"{shown}: close to where Gmail clips")
    return Check("HTML size", "ok", shown)


def preheader(parsed: Parsed) -> Check:
    """A hidden preheader at the top of the body, of a length inboxes show."""
    value = parsed.preheader
    if not value:
        return Check("Preheader", "fail", "none: inboxes show the first text of the email instead")
    length = len(value)
    if length < PREHEADER_MIN:
        return Check("Preheader", "warn", f"{length} characters: short, inboxes may add body text")
    if length > PREHEADER_SHOWN:
        return Check(
            "Preheader",
            "warn",
            f"{length} characters: inboxes show about {PREHEADER_SHOWN}, the rest is cut",
        )
    return Check("Preheader", "ok", f"{length} characters")


def text_part(parsed: Parsed) -> Check:
    """A plain-text alternative with something in it."""
    if parsed.text is None:
        return Check("Plain-text part", "fail", "missing: some readers and spam filters want it")
    if not parsed.text.strip():
        return Check("Plain-text part", "fail", "present but empty")
    return Check("Plain-text part", "ok", f"{len(parsed.text.splitlines())} lines")


def list_unsubscribe(parsed: Parsed) -> Check:
    """List-Unsubscribe, and List-Unsubscribe-Post for one-click https unsubscribes."""
    value = parsed.header("List-Unsubscribe")
    if not value:
        return Check(
            "List-Unsubscribe",
            "fail",
            "missing: Gmail and Yahoo want it from newsletters; set 'unsubscribe' in digest.yaml",
        )
    if "https://" in value and not parsed.header("List-Unsubscribe-Post"):
        return Check("List-Unsubscribe", "warn", f"{value} without List-Unsubscribe-Post")
    return Check("List-Unsubscribe", "ok", value)


def links(parsed: Parsed) -> Check:
    """Every link is absolute http(s) or mailto: others break or are flagged by filters."""
    bad = [href for href in parsed.links if not is_safe_url(href)]
    if bad:
        return Check("Links", "fail", f"{len(bad)} not http(s) or mailto: {_few(bad)}")
    count = len(parsed.links)
    return Check("Links", "ok", f"{count} link{'s' if count != 1 else ''}, all http(s) or mailto")


def images(parsed: Parsed) -> Check:
    """Every image says what it shows, for readers with images off or a screen reader."""
    if not parsed.images:
        return Check("Image alt text", "ok", "no images")
    missing = [src for src, alt in parsed.images if not (alt or "").strip()]
    if missing:
        return Check(
            "Image alt text",
            "warn",
            f"{len(missing)} of {len(parsed.images)} images have no alt text: {_few(missing)}",
        )
    return Check("Image alt text", "ok", f"all {len(parsed.images)} images have alt text")


def subject(parsed: Parsed) -> Check:
    """A subject short enough to show whole in an inbox list."""
    value = parsed.header("Subject")
    if not value.strip():
        return Check("Subject length", "fail", "the subject is empty")
    length = len(value)
    if length > SUBJECT_SHOWN:
        return Check(
            "Subject length",
            "warn",
            f"{length} characters: inboxes show about {SUBJECT_SHOWN} (phones 30-40)",
        )
    return Check("Subject length", "ok", f"{length} characters")


def run_checks(parsed: Parsed) -> tuple[Check, ...]:
    """Every check, in the order the panel lists them."""
    return tuple(
        check(parsed)
        for check in (html_size, preheader, text_part, list_unsubscribe, links, images, subject)
    )
