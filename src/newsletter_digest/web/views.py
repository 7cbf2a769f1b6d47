"""How the preview shows an issue: its JSON for the page script, and the email as a frame.

What is shown is made by :mod:`newsletter_digest.app.preview`; nothing here reads or writes.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any, Literal

from newsletter_digest.app.preview import Snapshot
from newsletter_digest.errors import DigestError

Scheme = Literal["light", "dark"]

_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.DOTALL | re.IGNORECASE)
_SCHEME = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(light|dark)\s*\)", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
# Media conditions that are always true / never true, valid wherever a feature test is.
_ALWAYS = "(min-width: 0px)"
_NEVER = "(not (min-width: 0px))"


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    """What the page script gets; it puts every string in with textContent."""
    parsed = snapshot.parsed
    headers = None
    if parsed is not None:
        sender = parsed.message["From"]
        address = sender.addresses[0] if sender is not None and sender.addresses else None
        headers = {
            "from_name": address.display_name if address else "",
            "from_address": address.addr_spec if address else parsed.header("From"),
            "to": parsed.header("To"),
            "subject": parsed.header("Subject"),
            "date": parsed.header("Date"),
            "preheader": parsed.preheader or "",
        }
    return {
        "view": {"kind": snapshot.view.kind, "number": snapshot.view.number},
        "label": snapshot.label,
        "number": snapshot.number,
        "title": snapshot.title,
        "headers": headers,
        "text": parsed.text if parsed is not None else None,
        "checks": [
            {"name": c.name, "status": c.status, "detail": c.detail} for c in snapshot.checks
        ],
        "excerpts": list(snapshot.excerpts),
        "notes": list(snapshot.notes),
        "nav": {"next": snapshot.next_number, "issues": list(snapshot.issues)},
        "error": (
            {"message": snapshot.error.message, "hint": snapshot.error.hint}
            if snapshot.error
            else None
        ),
    }


def frame_document(html: str, scheme: Scheme) -> str:
    """The email as a mail client set to ``scheme`` shows it.

    Its ``prefers-color-scheme`` media rules are switched on or off whatever the viewer's
    system setting, and the page's colour scheme is forced, as Apple Mail does for an email
    that declares it supports dark mode. Links open in a new tab (the frame is sandboxed).
    """

    def media(match: re.Match[str]) -> str:
        return _ALWAYS if match.group(1).lower() == scheme else _NEVER

    def style(match: re.Match[str]) -> str:
        opening, css, closing = match.groups()
        return _SCHEME.sub(media, opening) + _SCHEME.sub(media, css) + closing

    html = _STYLE.sub(style, html)
    extra = f'<base target="_blank"><style>:root {{ color-scheme: {scheme} !important; }}</style>'
    head_end = _HEAD_END.search(html)
    if head_end is None:
        return extra + html
    return html[: head_end.start()] + extra + html[head_end.start() :]


def error_document(error: DigestError) -> str:
    """A small page for a frame whose issue cannot be shown (the page shows the details)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head>'
        '<body style="font: 15px/1.5 system-ui, sans-serif; color: #8a1c1c; padding: 16px">'
        f"<p>{escape(error.message)}</p></body></html>"
    )
