"""The welcome message: sent once to a reader who confirmed a subscription, when
``welcome:`` names a Markdown file; through the transport issues go by (SMTP, or
without it outbox/welcomes/, as confirmations go to outbox/notices/). At most once per
reader: see readers/welcomes.py.
"""

from __future__ import annotations

import logging
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
Result = Literal["sent", "not configured", "sent before", "not sent"]


def _latest_link(config: Config, state: State) -> str | None:
    """The web version of the latest issue, when there is one and a base_url."""
    recorded = state.issues()
    if not recorded:
        return None
    return web_url(config.settings.base_url, recorded[-1].number)


def send_welcome(config: Config, reader_id: int) -> Result:
    """Welcome the reader unless they were welcomed (or are being welcomed) already."""
    s = config.settings
    if s.welcome is None:
        return "not configured"
    try:
        markdown = s.welcome.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        log.warning("welcome: cannot read %s: %s", s.welcome, e)
        return "not sent"
    now = local_now()
    stamp = now.isoformat(timespec="seconds")
    with open_state(s.state) as state:
        reader = book.get(state, reader_id)
        if reader is None or reader.status != "active":
            return "not sent"
        message_id = new_message_id(s.sender, 0)
        if not welcomes.claim(state, reader.id, message_id, stamp):
            return "sent before"
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
            return "not sent"
        welcomes.sent(state, reader.id, outcome.reply, stamp)
    return "sent"
