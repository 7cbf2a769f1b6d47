"""Send an issue over SMTP, one message per recipient, with a delivery log in SQLite.

Each recipient's row is updated the moment the server answers, so a run that is cut short
(Ctrl-C, kill -9, a dropped connection) resumes with exactly the recipients still pending,
and a recipient marked sent is never sent the same issue again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr as split_address

from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.pickup import PickupTransport
from newsletter_digest.delivery.smtp import SmtpTransport
from newsletter_digest.delivery.transport import Envelope, Outcome, Transport
from newsletter_digest.errors import ComposeError, DeliveryError
from newsletter_digest.mail import compose, headers
from newsletter_digest.mail.compose import MessageFactory
from newsletter_digest.models import IssueRecord, RenderedIssue, folder_name
from newsletter_digest.render.personal import unsubscribe_template
from newsletter_digest.signals import stop_on_signals
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
    failed_examples: list[tuple[str, str]] = field(default_factory=list)
    pending_examples: list[tuple[str, str]] = field(default_factory=list)
    stopped: str = ""

    @property
    def complete(self) -> bool:
        """Every recipient got the issue."""
        return self.sent == self.total


def _now_local() -> datetime:
    return datetime.now().astimezone()


def _now() -> str:
    return _now_local().isoformat(timespec="seconds")


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
        unsubscribe=unsubscribe_template(s.unsubscribe),
        list_name=compose.list_id(s.title, s.sender),
    )


class Pacer:
    """Keeps at most ``rate`` message starts per second (no limit when rate is None)."""

    def __init__(self, rate: float | None, sleep: Callable[[float], None]) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._sleep = sleep

    def wait(self) -> None:
        """Sleep until the next message may start."""
        if not self._interval:
            return
        now = time.monotonic()
        if self._next > now:
            self._sleep(self._next - now)
        self._next = max(now, self._next) + self._interval


def _attempt(
    transport: Transport,
    retries: tuple[int, float],
    message: tuple[bytes, Envelope],
    pacer: Pacer,
    sleep: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> tuple[Outcome, int]:
    """Send with retries and exponential backoff for 4xx replies and dropped connections.

    A stop (SIGTERM, Ctrl-C) ends the retries: the recipient stays pending for the next run.
    """
    data, envelope = message
    tries, delay = retries
    outcome = Outcome("temporary", "not tried")
    for attempt in range(tries + 1):
        pacer.wait()
        outcome = transport.send(data, envelope)
        if outcome.verdict in ("sent", "permanent"):
            return outcome, attempt + 1
        if attempt == tries or should_stop():
            return outcome, attempt + 1
        sleep(delay * 2**attempt)
    return outcome, tries + 1


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
            "add one (see the README's SMTP section), or 'per_recipient: true' for a pickup "
            "folder; without either, the outbox is the delivery",
        )


def _transport(config: Config, record: IssueRecord) -> Transport:
    """Where messages go: the pickup folder with ``per_recipient``, else the SMTP server."""
    s = config.settings
    if s.per_recipient or s.smtp is None:
        return PickupTransport(s.outbox / record.folder / "messages")
    password = os.environ.get(s.smtp.password_env) if s.smtp.username else None
    return SmtpTransport(s.smtp, password)


def send_issue(
    config: Config,
    number: int | None = None,
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Send (or resume sending) an issue to every recipient not yet reached."""
    s = config.settings
    _require_delivery(config)
    with process_lock(s.state, "send"), open_state(s.state) as state, stop_on_signals() as stop:
        record = _pick_issue(state, number)
        if not state.count_deliveries(record.number):
            if not config.recipient_count:
                raise DeliveryError(
                    "there are no recipients to send to",
                    "set 'recipients' or 'recipients_file' in the config",
                )
            state.add_deliveries(
                record.number,
                (
                    (r, compose.new_message_id(s.sender, record.number))
                    for r in config.iter_recipients()
                ),
                _now(),
            )
        report = SendReport(issue=record.number)
        if state.count_deliveries(record.number, UNFINISHED):
            with _transport(config, record) as transport:
                _send_all(config, state, record, transport, report, progress, sleep, stop)
        counts = state.delivery_counts().get(record.number, {})
        report.total = sum(counts.values())
        report.sent = counts.get("sent", 0)
        report.failed = counts.get("failed-permanent", 0)
        report.pending = report.total - report.sent - report.failed
        report.failed_examples = [
            (d.recipient, d.last_reply)
            for d in state.deliveries(record.number, ("failed-permanent",), EXAMPLES)
        ]
        report.pending_examples = [
            (d.recipient, d.last_reply or "not tried")
            for d in state.deliveries(record.number, UNFINISHED, EXAMPLES)
        ]
    return report


def _send_all(
    config: Config,
    state: State,
    record: IssueRecord,
    transport: Transport,
    report: SendReport,
    progress: Progress | None,
    sleep: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> None:
    """The loop: one message per pending recipient, each outcome logged as it comes."""
    s = config.settings
    retries = (s.smtp.retries, s.smtp.retry_delay) if s.smtp and not s.per_recipient else (0, 0.0)
    factory = message_factory(config, load_bodies(config, state, record), _now_local())
    pacer = Pacer(s.smtp.rate if s.smtp and not s.per_recipient else None, sleep)
    sender = headers.ascii_address(split_address(s.sender)[1], utf8=True)
    total = state.count_deliveries(record.number, UNFINISHED)
    todo = state.iter_deliveries(record.number, UNFINISHED)
    for done, delivery in enumerate(todo, 1):
        if should_stop():
            report.stopped = "stopped by a signal; the rest stay pending"
            break
        try:
            address = headers.ascii_address(headers.split_mailbox(delivery.recipient)[1], utf8=True)
            data = factory.message(delivery.recipient, delivery.message_id)
        except ComposeError as e:  # this reader's address cannot be written: only they fail
            outcome, attempts = Outcome("permanent", f"{e.message} ({e.hint})"), 0
        else:
            # SMTPUTF8 only where an address's user name needs it; names and domains are
            # encoded (RFC 2047, IDNA) and go to any server.
            utf8 = not (address.isascii() and sender.isascii())
            envelope = Envelope(sender, (address,), smtputf8=utf8)
            outcome, attempts = _attempt(
                transport, retries, (data, envelope), pacer, sleep, should_stop
            )
        status = STATUS.get(outcome.verdict, "failed-temporary")
        state.mark(
            record.number, delivery.recipient, status, outcome.reply, _now(), attempts=attempts
        )
        if status == "sent":
            report.sent_now += 1
        if progress is not None:
            progress(done, total)
        if outcome.verdict == "connection":
            report.stopped = (
                f"{transport.where} stopped answering ({outcome.reply}); the rest stay pending"
            )
            break
