"""Send an issue over SMTP, one message per recipient, with a delivery log in SQLite.

Each recipient's row is updated the moment the server answers, so a run that is cut short
(Ctrl-C, kill -9, a dropped connection) resumes with exactly the recipients still pending,
and a recipient marked sent is never sent the same issue again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr as split_address
from pathlib import Path

from newsletter_digest.clock import local_now, stamp
from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.loop import (
    LoopResult,
    Pacer,
    Refusal,
    deliver_all,
    no_such_mailbox,
)
from newsletter_digest.delivery.pickup import PickupTransport
from newsletter_digest.delivery.smtp import SmtpTransport
from newsletter_digest.delivery.transport import Envelope, Outcome, Transport
from newsletter_digest.errors import DeliveryError
from newsletter_digest.mail import compose, dkim, headers
from newsletter_digest.mail.compose import MessageFactory
from newsletter_digest.models import Delivery, IssueRecord, RenderedIssue, folder_name
from newsletter_digest.readers import book, tokens
from newsletter_digest.render.personal import unsubscribe_links
from newsletter_digest.signals import stop_on_signals
from newsletter_digest.state.leaving import LeavingQueue
from newsletter_digest.state.locks import process_lock
from newsletter_digest.state.store import UNFINISHED, State, open_state

Progress = Callable[[int, int], None]
STATUS = {"sent": "sent", "permanent": "failed-permanent"}


EXAMPLES = 20


@dataclass
class SendReport:
    """How sending an issue ended: counts, and the first recipients not reached with why."""

    issue: int
    total: int = 0
    sent: int = 0
    sent_now: int = 0
    failed: int = 0
    pending: int = 0
    left: int = 0  # readers who left (unsubscribed, ...) before their turn: not a failure
    failed_examples: list[tuple[str, str]] = field(default_factory=list)
    pending_examples: list[tuple[str, str]] = field(default_factory=list)
    stopped: str = ""
    refusal: Refusal | None = None  # the relay refused everyone alike: its reply and a hint
    retried: int = 0  # failed deliveries put back in the queue by --retry-failed
    seconds: float = 0.0
    bounced: int = 0  # of the failed: refused at an address whose reader is now bounced

    @property
    def complete(self) -> bool:
        """Every recipient got the issue, but those who left before their turn."""
        return self.sent + self.left == self.total

    @property
    def needs_person(self) -> bool:
        """Someone must act: recipients still pending, or failed for good for a reason not
        handled already (a hard bounce is: its reader is marked bounced, gets no more mail)."""
        return self.pending > 0 or self.failed > self.bounced


def load_bodies(config: Config, state: State, record: IssueRecord) -> RenderedIssue:
    """The rendered issue as built; from the outbox files if the state has no copy."""
    kept = state.bodies(record.number)
    if kept is not None:
        return kept
    folder = config.settings.outbox / record.folder
    stem = folder_name(record.number)
    try:
        html = (folder / f"{stem}.html").read_text(encoding="utf-8")
        text = (folder / f"{stem}.txt").read_text(encoding="utf-8")
    except OSError as e:
        raise DeliveryError(
            f"issue #{record.number}: cannot read its files in {folder}: {e.strerror or e}",
            "the issue's outbox folder must be in place to send it",
        ) from e
    return RenderedIssue(subject=record.subject, preheader="", html=html, text=text)


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


def _pick_issue(state: State, number: int | None) -> IssueRecord:
    records = state.issues(number) if number is not None else state.issues()[-1:]
    if not records:
        raise DeliveryError(
            f"there is no issue #{number}" if number else "no issue has been built yet",
            "run 'digest build' first, or 'digest history' to see the issues",
        )
    return records[0]


def _require_delivery(config: Config) -> None:
    """Sending needs somewhere to send to: an SMTP server or the pickup folder."""
    if config.settings.smtp is None and not config.settings.per_recipient:
        raise DeliveryError(
            "there is no smtp section in the config",
            "add one (docs/sending.md), or 'per_recipient: true' for a pickup "
            "folder; without either, the outbox is the delivery",
        )


def _transports(config: Config, record: IssueRecord) -> tuple[Callable[[], Transport], int]:
    """Where messages go, and over how many connections: the pickup folder with
    ``per_recipient``, else the SMTP server (``smtp.connections`` sessions)."""
    s = config.settings
    if s.per_recipient or s.smtp is None:
        folder = s.outbox / record.folder / "messages"
        return (lambda: PickupTransport(folder)), 1
    smtp = s.smtp
    password = os.environ.get(smtp.password_env) if smtp.username else None
    return (lambda: SmtpTransport(smtp, password)), smtp.connections


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
    transport: Transport
    if s.smtp is not None and not s.per_recipient:
        password = os.environ.get(s.smtp.password_env) if s.smtp.username else None
        transport = SmtpTransport(s.smtp, password)
    else:
        transport = PickupTransport(folder)
    with transport:
        return transport.send(message, envelope)


def send_issue(
    config: Config,
    number: int | None = None,
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry_failed: bool = False,
) -> SendReport:
    """Send (or resume sending) an issue to every recipient not yet reached; with
    ``retry_failed``, to those whose delivery failed for good too (after a config fix)."""
    s = config.settings
    started = time.monotonic()
    _require_delivery(config)
    with process_lock(s.state, "send"), open_state(s.state) as state, stop_on_signals() as stop:
        record = _pick_issue(state, number)
        book.sync_config(state, config.iter_recipients(), stamp())
        with LeavingQueue(s.state) as queue:  # unsubscribes taken while the book was locked
            book.take_leaving(state, queue)
        if not state.count_deliveries(record.number):
            if not book.counts(state).get("active"):
                raise DeliveryError(
                    "there are no active readers to send to",
                    "add some with 'digest readers add' or 'digest readers import', or set "
                    "'recipients' or 'recipients_file' in the config",
                )
            state.add_deliveries(
                record.number,
                (
                    (r.mailbox, compose.new_message_id(s.sender, record.number))
                    for r in book.active(state)
                ),
                stamp(),
            )
        report = SendReport(issue=record.number)
        if retry_failed:
            report.retried = state.retry_failed(record.number, stamp())
        if state.count_deliveries(record.number, UNFINISHED):
            _send_all(config, state, record, report, progress, sleep, stop)
        counts = state.delivery_counts().get(record.number, {})
        report.total = sum(counts.values())
        report.sent = counts.get("sent", 0)
        report.failed = counts.get("failed-permanent", 0)
        report.left = counts.get("left", 0)
        report.pending = report.total - report.sent - report.failed - report.left
        report.bounced = _bounced(state, record.number) if report.failed else 0
        report.failed_examples = [
            (d.recipient, d.last_reply)
            for d in state.deliveries(record.number, ("failed-permanent",), EXAMPLES)
        ]
        report.pending_examples = [
            (d.recipient, d.last_reply or "not tried")
            for d in state.deliveries(record.number, UNFINISHED, EXAMPLES)
        ]
    report.seconds = time.monotonic() - started
    return report


def _bounced(state: State, number: int) -> int:
    """How many of an issue's failed deliveries were refused (tried, not skipped) at an
    address whose reader the book now has as bounced: handled, nothing left to do."""
    count = 0
    for delivery in state.iter_deliveries(number, ("failed-permanent",)):
        reader = book.find(state, delivery.recipient) if delivery.attempts else None
        count += reader is not None and reader.status == "bounced"
    return count


def _send_all(
    config: Config,
    state: State,
    record: IssueRecord,
    report: SendReport,
    progress: Progress | None,
    sleep: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> None:
    """One message per pending recipient, each outcome logged the moment it comes back."""
    s = config.settings
    smtp = s.smtp if not s.per_recipient else None
    factory = message_factory(config, load_bodies(config, state, record), local_now())
    total = state.count_deliveries(record.number, UNFINISHED)
    done = 0
    dead: dict[str, str] = {}  # recipient -> a 5.1.x reply: no such mailbox or domain

    def log(delivery: Delivery, outcome: Outcome, tries: int) -> None:
        nonlocal done
        status = STATUS.get(outcome.verdict, "failed-temporary")
        state.mark(
            record.number, delivery.recipient, status, outcome.reply, stamp(), attempts=tries
        )
        if tries and outcome.verdict == "permanent" and no_such_mailbox(outcome.reply):
            dead[delivery.recipient] = outcome.reply  # bounced once the run rules out the relay
        if tries or outcome.verdict == "permanent":  # not a reader put back in the queue
            done += 1
            if progress is not None:
                progress(done, total)

    signer = tokens.Tokens(tokens.server_key(s.state)) if s.base_url else None
    unsubscribe: dict[str, str] = {}  # recipient -> token, made here, used by the workers
    prepare = _preparer(config, factory, unsubscribe)
    transports, connections = _transports(config, record)

    def left(delivery: Delivery, why: str) -> None:
        nonlocal done
        reply = f"not sent: the reader is {why}"
        state.mark(record.number, delivery.recipient, "left", reply, stamp(), attempts=0)
        done += 1
        if progress is not None:
            progress(done, total)

    with LeavingQueue(s.state) as queue:
        result = deliver_all(
            _still_wanted(state, record.number, queue, left, signer, unsubscribe),
            transports=transports,
            connections=connections,
            prepare=prepare,
            record=log,
            retries=(smtp.retries, smtp.retry_delay) if smtp else (0, 0.0),
            pacer=Pacer(smtp.rate if smtp else None, sleep),
            sleep=sleep,
            should_stop=should_stop,
        )

    _settle(state, report, result, dead, should_stop)


def _preparer(
    config: Config, factory: MessageFactory, unsubscribe: dict[str, str]
) -> Callable[[Delivery], tuple[bytes, Envelope]]:
    """What the workers call for each delivery: its message (the reader's own headers
    stamped, then DKIM-signed) and its envelope (VERP, SMTPUTF8 only where needed)."""
    s = config.settings
    smtp = s.smtp if not s.per_recipient else None
    bounce_to = smtp.return_path if smtp and smtp.return_path else split_address(s.sender)[1]
    sender = headers.ascii_address(bounce_to, utf8=True)
    local, _, domain = sender.rpartition("@")
    dkim_key = dkim.load_key(s.dkim.domain, s.dkim.selector, s.dkim.key_file) if s.dkim else None

    def message(delivery: Delivery) -> bytes:
        token = unsubscribe.pop(delivery.recipient, "")
        return factory.message(delivery.recipient, delivery.message_id, token=token)

    def prepare(delivery: Delivery) -> tuple[bytes, Envelope]:
        address = headers.ascii_address(headers.split_mailbox(delivery.recipient)[1], utf8=True)
        data = message(delivery)
        if dkim_key is not None:  # after the reader's own headers are stamped
            data = dkim.sign(data, dkim_key)
        # VERP: the envelope sender names the delivery (an opaque token), so a bounce does.
        mail_from = f"{local}+{delivery.token}@{domain}" if smtp and smtp.verp else sender
        # SMTPUTF8 only where a user name needs it; names and domains are encoded
        # (RFC 2047, IDNA), so such messages go through any server.
        utf8 = not (address.isascii() and mail_from.isascii())
        return data, Envelope(mail_from, (address,), smtputf8=utf8)

    return prepare


def _still_wanted(
    state: State,
    number: int,
    queue: LeavingQueue,
    left: Callable[[Delivery, str], None],
    signer: tokens.Tokens | None,
    unsubscribe: dict[str, str],
) -> Iterator[Delivery]:
    """The pending deliveries whose reader still wants the digest (checked now: a reader
    may have unsubscribed since the issue was built, or be waiting in the queue of
    unsubscribes); the others are logged as left before their turn."""
    for delivery in state.iter_deliveries(number, UNFINISHED):
        reader = book.find(state, delivery.recipient)
        if reader is None or reader.status != "active" or not reader.listed:
            left(delivery, reader.status if reader is not None and reader.listed else "removed")
            continue
        if queue.holds(reader.id):
            left(delivery, "unsubscribed")
            continue
        if signer is not None:
            unsubscribe[delivery.recipient] = signer.make(reader, "unsubscribe")
        yield delivery


def _settle(
    state: State,
    report: SendReport,
    result: LoopResult,
    dead: dict[str, str],
    should_stop: Callable[[], bool],
) -> None:
    """After the loop: hard-bounced readers marked (not those the relay refused along with
    everyone), and the report told how the run ended."""
    requeued = {d.recipient for d in result.requeued}
    for recipient, reply in dead.items():  # not those the relay refused along with everyone
        reader = book.find(state, recipient) if recipient not in requeued else None
        if reader is not None:
            book.set_status(state, reader.id, "bounced", reply, stamp())
    report.sent_now = result.sent
    report.refusal = result.refusal
    if result.refusal is not None:
        report.stopped = "the relay refused; the rest stay pending"
    elif result.stopped:
        report.stopped = f"{result.stopped}; the rest stay pending"
    elif should_stop():
        report.stopped = "stopped by a signal; the rest stay pending"
