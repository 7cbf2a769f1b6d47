"""The preview's "Send test" button: the issue on screen to a few addresses, as
``digest send --test`` sends it (``[test]`` subject, nothing recorded).

Only with SMTP configured (the button is hidden otherwise), only a JSON POST from the
preview's own page (its Origin), and at most a few addresses.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from newsletter_digest.addresses import split_mailbox
from newsletter_digest.app.trial import send_test
from newsletter_digest.config.loading import load_config
from newsletter_digest.errors import DigestError

MAX_BODY = 4096
MAX_ADDRESSES = 10


class TrySendError(Exception):
    """A request the button's route refuses: the status and what to show."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def status(config_path: Path) -> dict[str, Any]:
    """Whether the button is offered (SMTP configured), and the address it suggests."""
    try:
        settings = load_config(config_path).settings
    except DigestError as e:
        return {"enabled": False, "reason": e.message, "suggest": ""}
    if settings.smtp is None:
        return {
            "enabled": False,
            "reason": "add an smtp section to digest.yaml to send tests (docs/sending.md)",
            "suggest": "",
        }
    return {"enabled": True, "reason": "", "suggest": split_mailbox(settings.sender)[1]}


def _request(body: bytes) -> tuple[str, list[str]]:
    """The view (``next`` or ``issues/N``) and the addresses of a POSTed JSON body."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise TrySendError(400, 'send JSON: {"view": ..., "addresses": [...]}') from e
    view = data.get("view") if isinstance(data, dict) else None
    addresses = data.get("addresses") if isinstance(data, dict) else None
    if not isinstance(view, str) or not isinstance(addresses, list):
        raise TrySendError(400, 'send JSON: {"view": ..., "addresses": [...]}')
    if not addresses or not all(isinstance(a, str) and a.strip() for a in addresses):
        raise TrySendError(400, "give at least one address")
    if len(addresses) > MAX_ADDRESSES:
        raise TrySendError(400, f"at most {MAX_ADDRESSES} addresses at once")
    return view, [a.strip() for a in addresses]


def _number(view: str) -> int | None:
    """None for the next issue, N for ``issues/N``; anything else is refused."""
    if view == "next":
        return None
    kind, _, number = view.partition("/")
    if kind == "issues" and number.isascii() and number.isdigit() and 0 < int(number) < 10**9:
        return int(number)
    raise TrySendError(400, "only the next issue or a past one (issues/N) can be sent")


def handle(config_path: Path, body: bytes, now: datetime) -> dict[str, Any]:
    """Send the test; its outcome for the page, or TrySendError."""
    if len(body) > MAX_BODY:
        raise TrySendError(413, "the request is too large")
    view, addresses = _request(body)
    number = _number(view)
    try:
        config = load_config(config_path)
        if config.settings.smtp is None:
            raise TrySendError(409, status(config_path)["reason"])
        result = send_test(config, addresses, now, number)
    except DigestError as e:
        raise TrySendError(409, f"{e.message} ({e.hint})" if e.hint else e.message) from e
    return {
        "sent": result.sent,
        "subject": result.subject,
        "where": result.where,
        "outcomes": [
            {"address": address, "verdict": outcome.verdict, "reply": outcome.reply}
            for address, outcome in result.outcomes
        ],
    }
