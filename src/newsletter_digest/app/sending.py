"""Send an issue (``digest send``, and the send after a build or at a slot): the use case
owns every state write of a send.

The delivery log is written the moment each outcome comes back (delivery calls the log this
module passes in), so a send that is killed resumes with exactly the readers not reached:
nobody gets the issue twice, nobody is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from newsletter_digest.clock import stamp
from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.loop import LoopResult, Refusal, no_such_mailbox
from newsletter_digest.delivery.send import send_deliveries
from newsletter_digest.delivery.transport import Outcome
from newsletter_digest.errors import DeliveryError
from newsletter_digest.mail import compose
from newsletter_digest.models import Delivery, IssueRecord, RenderedIssue, folder_name
from newsletter_digest.readers import book, tokens
from newsletter_digest.signals import stop_on_signals
from newsletter_digest.state.leaving import LeavingQueue
from newsletter_digest.state.locks import process_lock
from newsletter_digest.state.store import UNFINISHED, State, open_state

Progress = Callable[[int, int], None]
STATUS = {"sent": "sent", "permanent": "failed-permanent"}
EXAMPLES = 20


@dataclass(frozen=True)
class SendReport:
    """How sending an issue ended: counts, and the first recipients not reached with why."""

    issue: int
    total: int = 0
    sent: int = 0
    sent_now: int = 0
    failed: int = 0
    pending: int = 0
    left: int = 0  # readers who left (unsubscribed, ...) before their turn: not a failure
    failed_examples: tuple[tuple[str, str], ...] = ()
    pending_examples: tuple[tuple[str, str], ...] = ()
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


def delivers(config: Config) -> bool:
    """Whether issues are sent after they are made (over SMTP or into the pickup folder);
    without either, the outbox copy is the delivery. Decided here only."""
    s = config.settings
    return s.smtp is not None or s.per_recipient


def require_delivery(config: Config) -> None:
    """Sending needs somewhere to send to: an SMTP server or the pickup folder."""
    if not delivers(config):
        raise DeliveryError(
            "there is no smtp section in the config",
            "add one (docs/sending.md), or 'per_recipient: true' for a pickup "
            "folder; without either, the outbox is the delivery",
        )


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


def send_issue(
    config: Config,
    number: int | None = None,
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry_failed: bool = False,
    workers: int | None = None,
) -> SendReport:
    """Send (or resume sending) an issue (default: the latest) to every recipient not yet
    reached; with ``retry_failed``, to those whose delivery failed for good too (after a
    config fix); over ``workers`` connections instead of ``smtp.connections``."""
    s = config.settings
    started = time.monotonic()
    require_delivery(config)
    with process_lock(s.state, "send"), open_state(s.state) as state, stop_on_signals() as stop:
        record = _pick_issue(state, number)
        _queue_readers(config, state, record)
        retried = state.retry_failed(record.number, stamp()) if retry_failed else 0
        report = SendReport(issue=record.number, retried=retried)
        if state.count_deliveries(record.number, UNFINISHED):
            run = _Run(config, state, record, progress)
            result = run.send(sleep, stop, workers)
            report = _ended(report, result, stop)
        report = _counted(state, report)
    return replace(report, seconds=time.monotonic() - started)


def _pick_issue(state: State, number: int | None) -> IssueRecord:
    records = state.issues(number) if number is not None else state.issues()[-1:]
    if not records:
        raise DeliveryError(
            f"there is no issue #{number}" if number else "no issue has been built yet",
            "run 'digest build' first, or 'digest history' to see the issues",
        )
    return records[0]


def _queue_readers(config: Config, state: State, record: IssueRecord) -> None:
    """The reader book brought up to date, and, the first time, a delivery per active reader."""
    s = config.settings
    book.sync_config(state, config.iter_recipients(), stamp())
    with LeavingQueue(s.state) as queue:  # unsubscribes taken while the book was locked
        book.take_leaving(state, queue)
    if state.count_deliveries(record.number):
        return
    if not book.counts(state).get("active"):
        raise DeliveryError(
            "there are no active readers to send to",
            "add some with 'digest readers add' or 'digest readers import', or set "
            "'recipients' or 'recipients_file' in the config",
        )
    state.add_deliveries(
        record.number,
        ((r.mailbox, compose.new_message_id(s.sender, record.number)) for r in book.active(state)),
        stamp(),
    )


class _Run:
    """One send of one issue: the delivery log it writes as outcomes come back, the readers
    who left before their turn, and the hard bounces noted for after the run."""

    def __init__(
        self, config: Config, state: State, record: IssueRecord, progress: Progress | None
    ) -> None:
        self.config = config
        self.state = state
        self.record = record
        self.progress = progress
        self.total = state.count_deliveries(record.number, UNFINISHED)
        self.done = 0
        self.dead: dict[str, str] = {}  # recipient -> a 5.1.x reply: no such mailbox or domain
        self.tokens: dict[str, str] = {}  # recipient -> unsubscribe token, for the workers

    def send(
        self, sleep: Callable[[float], None], stop: Callable[[], bool], workers: int | None
    ) -> LoopResult:
        """Every pending recipient who still wants the issue, one message each."""
        s = self.config.settings
        rendered = load_bodies(self.config, self.state, self.record)
        signer = tokens.Tokens(tokens.server_key(s.state)) if s.base_url else None
        with LeavingQueue(s.state) as queue:
            result = send_deliveries(
                self.config,
                rendered,
                self._still_wanted(queue, signer),
                self.outcome,
                folder=s.outbox / self.record.folder / "messages",
                tokens=self.tokens,
                workers=workers,
                sleep=sleep,
                should_stop=stop,
            )
        self._mark_bounced(result)
        return result

    def outcome(self, delivery: Delivery, outcome: Outcome, tries: int) -> None:
        """Log one outcome the moment it comes back (``tries`` 0: put back in the queue)."""
        status = STATUS.get(outcome.verdict, "failed-temporary")
        self.state.mark(
            self.record.number, delivery.recipient, status, outcome.reply, stamp(), attempts=tries
        )
        if tries and outcome.verdict == "permanent" and no_such_mailbox(outcome.reply):
            self.dead[delivery.recipient] = outcome.reply  # bounced unless the relay refused all
        if tries or outcome.verdict == "permanent":  # not a reader put back in the queue
            self._advance()

    def _left(self, delivery: Delivery, why: str) -> None:
        reply = f"not sent: the reader is {why}"
        self.state.mark(self.record.number, delivery.recipient, "left", reply, stamp(), attempts=0)
        self._advance()

    def _advance(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _still_wanted(
        self, queue: LeavingQueue, signer: tokens.Tokens | None
    ) -> Iterator[Delivery]:
        """The pending deliveries whose reader still wants the digest (checked now: a reader
        may have unsubscribed since the issue was built, or be waiting in the queue of
        unsubscribes); the others are logged as left before their turn."""
        state = self.state
        for delivery in state.iter_deliveries(self.record.number, UNFINISHED):
            reader = book.find(state, delivery.recipient)
            if reader is None or reader.status != "active" or not reader.listed:
                status = reader.status if reader is not None and reader.listed else "removed"
                self._left(delivery, status)
                continue
            if queue.holds(reader.id):
                self._left(delivery, "unsubscribed")
                continue
            if signer is not None:
                self.tokens[delivery.recipient] = signer.make(reader, "unsubscribe")
            yield delivery

    def _mark_bounced(self, result: LoopResult) -> None:
        """Hard-bounced readers marked, not those the relay refused along with everyone."""
        requeued = {d.recipient for d in result.requeued}
        for recipient, reply in self.dead.items():
            reader = book.find(self.state, recipient) if recipient not in requeued else None
            if reader is not None:
                book.set_status(self.state, reader.id, "bounced", reply, stamp())


def _ended(report: SendReport, result: LoopResult, stop: Callable[[], bool]) -> SendReport:
    """How the loop ended, told in the report."""
    stopped = ""
    if result.refusal is not None:
        stopped = "the relay refused; the rest stay pending"
    elif result.stopped:
        stopped = f"{result.stopped}; the rest stay pending"
    elif stop():
        stopped = "stopped by a signal; the rest stay pending"
    return replace(report, sent_now=result.sent, refusal=result.refusal, stopped=stopped)


def _counted(state: State, report: SendReport) -> SendReport:
    """The issue's delivery log in numbers, with the first few not reached."""
    number = report.issue
    counts = state.delivery_counts().get(number, {})
    total = sum(counts.values())
    sent, failed, left = (counts.get(k, 0) for k in ("sent", "failed-permanent", "left"))
    failed_examples = tuple(
        (d.recipient, d.last_reply)
        for d in state.deliveries(number, ("failed-permanent",), EXAMPLES)
    )
    pending_examples = tuple(
        (d.recipient, d.last_reply or "not tried")
        for d in state.deliveries(number, UNFINISHED, EXAMPLES)
    )
    return replace(
        report,
        total=total,
        sent=sent,
        failed=failed,
        left=left,
        pending=total - sent - failed - left,
        bounced=_bounced(state, number) if failed else 0,
        failed_examples=failed_examples,
        pending_examples=pending_examples,
    )


def _bounced(state: State, number: int) -> int:
    """How many of an issue's failed deliveries were refused (tried, not skipped) at an
    address whose reader the book now has as bounced: handled, nothing left to do."""
    count = 0
    for delivery in state.iter_deliveries(number, ("failed-permanent",)):
        reader = book.find(state, delivery.recipient) if delivery.attempts else None
        count += reader is not None and reader.status == "bounced"
    return count
