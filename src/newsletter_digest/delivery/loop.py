"""The send loop: deliveries out over one or more transports, each outcome back to be logged.

Worker threads only talk to the relay; the caller's thread does all the bookkeeping (the
delivery log is SQLite), one outcome at a time, the moment it comes back. A refusal that
is the relay's and not the reader's (the sender, the login, "relay access denied" for
everyone) stops the loop instead of failing every reader one by one.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from newsletter_digest.delivery.transport import Envelope, Outcome, Transport
from newsletter_digest.errors import ComposeError
from newsletter_digest.models import Delivery

# How many readers in a row, none accepted before them, may get the same 5xx before the
# refusal is taken as the relay's.
RELAY_REFUSALS = 3
_ENHANCED = re.compile(r"(\d{3})[ -]+([245]\.\d{1,3}\.\d{1,3})?")


class Refusal(NamedTuple):
    """The relay refused the session or every reader alike: its reply, and what to do."""

    reply: str
    hint: str


@dataclass
class LoopResult:
    """How the loop ended: messages accepted, and why it stopped early, if it did."""

    sent: int = 0
    stopped: str = ""
    refusal: Refusal | None = None
    requeued: list[Delivery] = field(default_factory=list)


class Pacer:
    """At most ``rate`` message starts per second across all connections (None: no limit)."""

    def __init__(self, rate: float | None, sleep: Callable[[float], None]) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._sleep = sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until the next message may start."""
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)


def attempt(
    transport: Transport,
    retries: tuple[int, float],
    message: tuple[bytes, Envelope],
    pacer: Pacer,
    sleep: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> tuple[Outcome, int]:
    """Send with retries and exponential backoff for 4xx replies and dropped connections.

    A stop (SIGTERM, Ctrl-C, the relay refusing) ends the retries: the reader stays pending.
    """
    data, envelope = message
    tries, delay = retries
    outcome = Outcome("temporary", "not tried")
    for number in range(tries + 1):
        pacer.wait()
        outcome = transport.send(data, envelope)
        if outcome.verdict in ("sent", "permanent", "session"):
            return outcome, number + 1
        if number == tries or should_stop():
            return outcome, number + 1
        sleep(delay * 2**number)
    return outcome, tries + 1


def refusal_key(reply: str) -> tuple[str, str]:
    """What makes two refusals the same: the reply code and the enhanced status code (the
    text may name each address, as Postfix's "554 5.7.1 <a@b>: Relay access denied" does)."""
    match = _ENHANCED.match(reply)
    return (match.group(1), match.group(2) or "") if match else (reply, "")


# Enhanced status codes about one recipient's mailbox, never the relay's doing (RFC 3463):
# bad mailbox, bad system, bad syntax, moved, null MX; disabled, full, too large for it.
RECIPIENT_STATUSES = frozenset(
    ("5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1", "5.2.2", "5.2.3")
)


def no_such_mailbox(reply: str) -> bool:
    """A 5.1.x refusal of the recipient's address itself (not of the sender's)."""
    status = refusal_key(reply)[1]
    return (
        status in RECIPIENT_STATUSES and status.startswith("5.1.") and "sender" not in reply.lower()
    )


def relay_hint(reply: str, *, at_sender: bool = False) -> str:
    """What a user can do about a refusal that is the relay's (``at_sender``: the reply to
    MAIL FROM, which is about the sender whatever its code)."""
    text = reply.lower()
    code, status = refusal_key(reply)
    if at_sender or "sender" in text:
        return (
            "the relay refuses the sender: use an address it lets you send as "
            "(sender, smtp.return_path)"
        )
    if "relay" in text or status == "5.7.1":
        return (
            "the relay does not accept mail from you for these readers: log in "
            "(smtp.username and the password), or ask its admin to permit this host"
        )
    if code == "530" or status in ("5.7.0", "5.7.8") or "auth" in text:
        return "the relay wants a login: set smtp.username and export the password"
    if "helo" in text or "ehlo" in text:
        return "set smtp.helo to this machine's fully qualified name (one that resolves)"
    return "the relay refuses every reader alike: fix the cause it names, then 'digest send'"


class _RelayWatch:
    """Spots the same 5xx for the first few readers of a run, none accepted before them."""

    def __init__(self) -> None:
        self.accepted = False
        self.key: tuple[str, str] | None = None
        self.streak: list[Delivery] = []

    def sent(self) -> None:
        self.accepted = True
        self.streak.clear()

    def refused(self, delivery: Delivery, reply: str) -> list[Delivery] | None:
        """The readers refused alike so far, once there are enough of them; else None."""
        if self.accepted or refusal_key(reply)[1] in RECIPIENT_STATUSES:
            return None  # after a success, or a refusal about this reader's own mailbox
        key = refusal_key(reply)
        if key != self.key:
            self.key, self.streak = key, []
        self.streak.append(delivery)
        return list(self.streak) if len(self.streak) >= RELAY_REFUSALS else None


# A worker's answer for each delivery it took: the outcome and tries; None when it was not
# sent because the loop is stopping; or the error that ended the worker.
Job = tuple[Delivery, Outcome | BaseException | None, int]
_FINISHED = object()  # a worker is gone


def deliver_all(
    deliveries: Iterable[Delivery],
    *,
    transports: Callable[[], Transport],
    connections: int,
    prepare: Callable[[Delivery], tuple[bytes, Envelope]],
    record: Callable[[Delivery, Outcome, int], None],
    retries: tuple[int, float],
    pacer: Pacer,
    sleep: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> LoopResult:
    """Send every delivery once over ``connections`` transports; ``record`` each outcome.

    ``prepare`` makes a reader's message (ComposeError: that reader fails alone). ``record``
    runs in the calling thread, in the order outcomes arrive.
    """
    result = LoopResult()
    halt = threading.Event()
    todo: queue.Queue[Delivery | None] = queue.Queue()
    done: queue.Queue[Job | BaseException | object] = queue.Queue()

    def stopping() -> bool:
        return halt.is_set() or should_stop()

    def send(transport: Transport, delivery: Delivery) -> tuple[Outcome, int]:
        try:
            message = prepare(delivery)
        except ComposeError as e:  # this reader's message cannot be made: they fail alone
            return Outcome("permanent", f"{e.message} ({e.hint})"), 0
        outcome, tries = attempt(transport, retries, message, pacer, sleep, stopping)
        if outcome.verdict == "connection":
            result.stopped = f"{transport.where} stopped answering ({outcome.reply})"
        return outcome, tries

    def work() -> None:
        try:
            with transports() as transport:
                while (delivery := todo.get()) is not None:
                    if stopping():
                        done.put((delivery, None, 0))
                        continue
                    try:
                        done.put((delivery, *send(transport, delivery)))
                    except BaseException as e:  # a session that cannot start (TLS, login)
                        halt.set()
                        done.put((delivery, e, 0))
        except BaseException as e:
            halt.set()
            done.put(e)
        finally:
            done.put(_FINISHED)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(connections)]
    for worker in workers:
        worker.start()
    watch = _RelayWatch()
    source = iter(deliveries)
    in_flight, alive = 0, len(workers)
    errors: list[BaseException] = []
    try:
        while alive:
            while in_flight < 2 * connections and not stopping():  # keep connections busy
                delivery = next(source, None)
                if delivery is None:
                    break
                todo.put(delivery)
                in_flight += 1
            if in_flight == 0:
                break
            try:
                item = done.get(timeout=0.2)  # short waits: a signal handler gets to run
            except queue.Empty:
                continue
            if item is _FINISHED:
                alive -= 1
            elif isinstance(item, BaseException):
                errors.append(item)
            elif isinstance(item, tuple):
                in_flight -= 1
                _settle(item, record, watch, result, halt, errors)
    finally:
        # Whatever ended the loop (the source raising included): stop the workers, and log
        # every answer that came back, so no reader the relay accepted is left pending.
        halt.set()
        for _ in workers:
            todo.put(None)
        for worker in workers:
            worker.join()
        while not done.empty():
            item = done.get()
            if isinstance(item, BaseException):
                errors.append(item)
            elif isinstance(item, tuple):
                _settle(item, record, watch, result, halt, errors)
    if errors and result.refusal is None:
        raise errors[0]
    return result


def _settle(
    job: Job,
    record: Callable[[Delivery, Outcome, int], None],
    watch: _RelayWatch,
    result: LoopResult,
    halt: threading.Event,
    errors: list[BaseException],
) -> None:
    """Log one outcome; stop the loop when the relay, not the reader, is refusing."""
    delivery, outcome, tries = job
    if outcome is None:  # not sent: stopping
        return
    if isinstance(outcome, BaseException):
        errors.append(outcome)
        return
    if outcome.verdict == "session":
        record(delivery, Outcome("temporary", outcome.reply), tries)
        hint = relay_hint(outcome.reply, at_sender=True)
        result.refusal = result.refusal or Refusal(outcome.reply, hint)
        halt.set()
        return
    record(delivery, outcome, tries)
    if outcome.verdict == "sent":
        result.sent += 1
        watch.sent()
    elif outcome.verdict == "connection":
        halt.set()
    elif outcome.verdict == "permanent":
        streak = watch.refused(delivery, outcome.reply)
        if streak is not None:
            for refused in streak:  # not these readers' fault: back in the queue
                record(refused, Outcome("temporary", outcome.reply), 0)
            result.requeued = streak
            result.refusal = Refusal(outcome.reply, relay_hint(outcome.reply))
            halt.set()
