"""The use case of the welcome message: sent once to a reader who confirmed a subscription, when
``welcome:`` names a Markdown file; through the transport issues go by (SMTP, or
without it outbox/welcomes/, as confirmations go to outbox/notices/). At most once per
reader: see readers/welcomes.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from newsletter_digest.clock import local_now
from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.send import send_notice
from newsletter_digest.mail import notices
from newsletter_digest.mail.compose import new_message_id
from newsletter_digest.readers import book, tokens, welcomes
from newsletter_digest.render.personal import unsubscribe_links
from newsletter_digest.render.renderer import web_url
from newsletter_digest.state.store import State, open_state

log = logging.getLogger("newsletter_digest.welcome")
FOLDER = "welcomes"  # outbox/welcomes/: where welcomes go without SMTP
Outcome = Literal["sent", "not configured", "sent before", "not sent"]


@dataclass(frozen=True)
class Welcomed:
    """What became of one reader's welcome; ``reply``: the transport's, when it was tried."""

    outcome: Outcome
    reply: str = ""


def _latest_link(config: Config, state: State) -> str | None:
    """The web version of the latest issue, when there is one and a base_url."""
    recorded = state.issues()
    if not recorded:
        return None
    return web_url(config.settings.base_url, recorded[-1].number)


def send_welcome(config: Config, reader_id: int) -> Welcomed:
    """Welcome the reader unless they were welcomed (or are being welcomed) already."""
    s = config.settings
    if s.welcome is None:
        return Welcomed("not configured")
    try:
        markdown = s.welcome.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        log.warning("welcome: cannot read %s: %s", s.welcome, e)
        return Welcomed("not sent")
    with open_state(s.state) as state:
        reader = book.get(state, reader_id)
        if reader is None or reader.status != "active":
            return Welcomed("not sent")
        return _welcome(config, state, reader, markdown)


def _welcome(config: Config, state: State, reader: book.Reader, markdown: str) -> Welcomed:
    """Claim the reader's welcome, send it, and keep what the transport said (a welcome
    the transport did not take is released, so a later confirmation tries again)."""
    s = config.settings
    now = local_now()
    stamp = now.isoformat(timespec="seconds")
    message_id = new_message_id(s.sender, 0)
    if not welcomes.claim(state, reader.id, message_id, stamp):
        return Welcomed("sent before")
    token = tokens.Tokens(tokens.server_key(s.state)).make(reader, "unsubscribe")
    message = notices.welcome(
        s.title,
        s.sender,
        reader.mailbox,
        markdown,
        latest=_latest_link(config, state),
        unsubscribe=unsubscribe_links(s.unsubscribe, s.base_url),
        token=token,
        now=now,
        message_id=message_id,
    )
    try:
        outcome = send_notice(config, message, reader.mailbox, FOLDER)
    except Exception:
        welcomes.release(state, reader.id)  # nothing was handed over
        raise
    if outcome.verdict != "sent":
        welcomes.release(state, reader.id)
        log.warning("welcome to a new reader not sent: %s", outcome.reply)
        return Welcomed("not sent", outcome.reply)
    welcomes.sent(state, reader.id, outcome.reply, stamp)
    return Welcomed("sent", outcome.reply)
