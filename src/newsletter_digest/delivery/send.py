"""Send an issue's deliveries, one message per recipient, over SMTP or into the pickup folder.

The delivery log is the caller's (the send use case passes its ``record`` in): each outcome
goes to it the moment the server answers, so a run that is cut short (Ctrl-C, kill -9, a
dropped connection) resumes with exactly the recipients still pending, and a recipient
recorded as sent is never sent the same issue again. Single messages that are not issues
(confirmations, welcomes, tests) go the same way with :func:`send_one`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, MutableMapping
from datetime import datetime
from email.utils import parseaddr as split_address
from pathlib import Path

from newsletter_digest.clock import local_now
from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.loop import LoopResult, Pacer, Record, deliver_all
from newsletter_digest.delivery.pickup import PickupTransport
from newsletter_digest.delivery.smtp import SmtpTransport
from newsletter_digest.delivery.transport import Envelope, Outcome, Transport
from newsletter_digest.mail import compose, dkim, headers
from newsletter_digest.mail.compose import MessageFactory
from newsletter_digest.models import Delivery, RenderedIssue
from newsletter_digest.render.personal import unsubscribe_links


def message_factory(config: Config, rendered: RenderedIssue, date: datetime) -> MessageFactory:
    """Serialise the issue once for this run; each recipient's bytes are then cheap."""
    s = config.settings
    return MessageFactory(
        rendered,
        sender=s.sender,
        date=date,
        unsubscribe=unsubscribe_links(s.unsubscribe, s.base_url),
        list_name=compose.list_id(s.title, s.sender),
        feedback_id=s.feedback_id,
    )


def transports(
    config: Config, folder: Path, workers: int | None = None
) -> tuple[Callable[[], Transport], int]:
    """Where messages go, and over how many connections: the pickup ``folder`` with
    ``per_recipient``, else the SMTP server (``smtp.connections`` sessions); ``workers``
    overrides the number."""
    s = config.settings
    if s.per_recipient or s.smtp is None:
        return (lambda: PickupTransport(folder)), workers or 1
    smtp = s.smtp
    password = os.environ.get(smtp.password_env) if smtp.username else None
    return (lambda: SmtpTransport(smtp, password)), workers or smtp.connections


def send_notice(config: Config, message: bytes, recipient: str, folder: str = "notices") -> Outcome:
    """Send one message that is not an issue (a subscription confirmation, a welcome) the
    way issues go: over SMTP, or, without it, into outbox/FOLDER/ (one file per reader, so
    each kind has its folder and a welcome never replaces a confirmation)."""
    return send_one(config, message, recipient, config.settings.outbox / folder)


def send_one(config: Config, message: bytes, recipient: str, folder: Path) -> Outcome:
    """One message to one recipient over SMTP, or into ``folder`` (a pickup folder) when
    SMTP is not configured; the envelope sender is the one issues go out with."""
    s = config.settings
    address = headers.ascii_address(headers.split_mailbox(recipient)[1], utf8=True)
    bounce_to = s.smtp.return_path if s.smtp and s.smtp.return_path else None
    sender = headers.ascii_address(bounce_to or split_address(s.sender)[1], utf8=True)
    envelope = Envelope(sender, (address,), smtputf8=not (address + sender).isascii())
    make, _ = transports(config, folder)
    with make() as transport:
        return transport.send(message, envelope)


class Preparer:
    """What the workers call for each delivery: its message (the reader's own headers
    stamped, then DKIM-signed) and its envelope (VERP, SMTPUTF8 only where needed).

    ``tokens`` maps a recipient to their unsubscribe token; whoever hands out the deliveries
    fills it, and each token is taken out when its message is made.
    """

    def __init__(
        self, config: Config, factory: MessageFactory, tokens: MutableMapping[str, str]
    ) -> None:
        s = config.settings
        self.smtp = s.smtp if not s.per_recipient else None
        smtp = self.smtp
        bounce_to = smtp.return_path if smtp and smtp.return_path else split_address(s.sender)[1]
        self.sender = headers.ascii_address(bounce_to, utf8=True)
        self.local, _, self.domain = self.sender.rpartition("@")
        self.key = (
            dkim.load_key(s.dkim.domain, s.dkim.selector, s.dkim.key_file) if s.dkim else None
        )
        self.factory = factory
        self.tokens = tokens

    def __call__(self, delivery: Delivery) -> tuple[bytes, Envelope]:
        address = headers.ascii_address(headers.split_mailbox(delivery.recipient)[1], utf8=True)
        token = self.tokens.pop(delivery.recipient, "")
        data = self.factory.message(delivery.recipient, delivery.message_id, token=token)
        if self.key is not None:  # after the reader's own headers are stamped
            data = dkim.sign(data, self.key)
        # VERP: the envelope sender names the delivery (an opaque token), so a bounce does.
        verp = self.smtp is not None and self.smtp.verp
        mail_from = f"{self.local}+{delivery.token}@{self.domain}" if verp else self.sender
        # SMTPUTF8 only where a user name needs it; names and domains are encoded
        # (RFC 2047, IDNA), so such messages go through any server.
        utf8 = not (address.isascii() and mail_from.isascii())
        return data, Envelope(mail_from, (address,), smtputf8=utf8)


def send_deliveries(
    config: Config,
    rendered: RenderedIssue,
    deliveries: Iterable[Delivery],
    record: Record,
    *,
    folder: Path,
    tokens: MutableMapping[str, str],
    workers: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> LoopResult:
    """One message per delivery, each outcome given to ``record`` the moment it comes back
    (in the calling thread). ``folder`` is the pickup folder, used without SMTP."""
    s = config.settings
    smtp = s.smtp if not s.per_recipient else None
    factory = message_factory(config, rendered, local_now())
    make, connections = transports(config, folder, workers)
    return deliver_all(
        deliveries,
        transports=make,
        connections=connections,
        prepare=Preparer(config, factory, tokens),
        record=record,
        retries=(smtp.retries, smtp.retry_delay) if smtp else (0, 0.0),
        pacer=Pacer(smtp.rate if smtp else None, sleep),
        sleep=sleep,
        should_stop=should_stop,
    )
