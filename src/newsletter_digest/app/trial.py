"""``digest send --test``: the next issue (or a recorded one) to a few addresses, to try it.

A test send changes nothing: the state is opened read-only (no issue, slot, reader or
delivery is recorded, the rotation does not advance), the caches are read but not added to,
and the outbox is not written. The message is the one readers get, links and all, with
``[test]`` in front of its subject.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter_digest.addresses import split_mailbox
from newsletter_digest.app import issues
from newsletter_digest.app.sending import delivers, load_bodies
from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.send import message_factory, send_one
from newsletter_digest.delivery.transport import Outcome
from newsletter_digest.errors import DeliveryError
from newsletter_digest.mail import compose, dkim
from newsletter_digest.models import RenderedIssue
from newsletter_digest.readers import book, tokens
from newsletter_digest.state.store import State, open_state

PREFIX = "[test] "
FOLDER = "test"  # outbox/test/: where a test goes with the pickup folder (per_recipient)


@dataclass(frozen=True)
class TrialResult:
    """What a test send did: which issue, its subject, and each address's outcome."""

    number: int
    subject: str
    recorded: bool  # a recorded issue (--issue N), or the next one (not made yet)
    outcomes: tuple[tuple[str, Outcome], ...]
    where: str

    @property
    def sent(self) -> bool:
        """Every address got it."""
        return all(outcome.verdict == "sent" for _, outcome in self.outcomes)


def require_transport(config: Config) -> str:
    """Where a test goes: the SMTP server, or the pickup folder; else say what to do."""
    s = config.settings
    if delivers(config):
        return f"{s.smtp.host}:{s.smtp.effective_port}" if s.smtp else str(s.outbox / FOLDER)
    raise DeliveryError(
        "a test send needs an smtp section in the config: without one there is nowhere to send it",
        "add an smtp section (see docs/sending.md), or look at the next issue with "
        "'digest preview' (its 'Download .eml' opens it in your mail program)",
    )


def check_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """The addresses as given, each checked; a bad one is a DeliveryError naming it."""
    for address in addresses:
        try:
            split_mailbox(address)
        except ValueError as e:
            raise DeliveryError(
                f"--test: {e}",
                "give one or more addresses, like --test me@example.org",
            ) from e
    return tuple(addresses)


def _issue(
    config: Config, state: State, number: int | None, now: datetime
) -> tuple[int, RenderedIssue]:
    """A recorded issue as it was built, or the next one as the next build makes it."""
    if number is not None:
        records = state.issues(number)
        if not records:
            raise DeliveryError(
                f"there is no issue #{number}",
                "'digest history' lists the issues; without --issue the next one is sent",
            )
        return number, load_bodies(config, state, records[0])
    renderer = issues.make_renderer(config, cache=True, save_cache=False)
    plan = issues.plan_next(config, state, now.date(), renderer, save_cache=False)
    return plan.info.number, plan.rendered


def _token(config: Config, state: State, address: str) -> str:
    """A reader's real unsubscribe token when the address is a reader and links are signed
    already (the key is never made by a test); else blank."""
    s = config.settings
    if s.base_url is None:
        return ""
    if not (os.environ.get(tokens.ENV_VAR) or (s.state.parent / "secret").is_file()):
        return ""
    reader = book.find(state, address)
    if reader is None:
        return ""
    return tokens.Tokens(tokens.server_key(s.state)).make(reader, "unsubscribe")


def send_test(
    config: Config, addresses: Sequence[str], now: datetime, number: int | None = None
) -> TrialResult:
    """Send the next issue (or issue ``number``) to ``addresses`` only; record nothing."""
    s = config.settings
    where = require_transport(config)
    wanted = check_addresses(addresses)
    with open_state(s.state, readonly=True) as state:
        issue, rendered = _issue(config, state, number, now)
        rendered = rendered._replace(subject=PREFIX + rendered.subject)
        factory = message_factory(config, rendered, now)
        key = dkim.load_key(s.dkim.domain, s.dkim.selector, s.dkim.key_file) if s.dkim else None
        outcomes = []
        for address in wanted:
            message_id = compose.new_message_id(s.sender, issue)
            data = factory.message(address, message_id, token=_token(config, state, address))
            if key is not None:
                data = dkim.sign(data, key)
            outcomes.append((address, send_one(config, data, address, s.outbox / FOLDER)))
    return TrialResult(issue, rendered.subject, number is not None, tuple(outcomes), where)
