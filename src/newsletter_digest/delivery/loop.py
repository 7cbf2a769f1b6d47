"""The send loop: deliveries out over one or more transports, each outcome back to be logged.

A thread pool (``concurrent.futures``) of one worker per connection only talks to the relay;
the caller's thread does all the bookkeeping (the delivery log it passes in), one outcome at
a time, the moment it comes back. A refusal that
is the relay's and not the reader's (the sender, the login, "relay access denied" for
everyone) stops the loop instead of failing every reader one by one.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
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


# A worker's answer for each delivery it took: the outcome and tries, or None when it was
# not sent because the loop is stopping.
Answer = tuple[Outcome | None, int]
Record = Callable[[Delivery, Outcome, int], None]
WAIT_S = 0.2  # short waits for answers: a signal handler in the calling thread gets to run


class _Sessions:
    """One transport per worker thread, opened at its first message and kept for the run;
    all closed once the pool is done."""

    def __init__(self, transports: Callable[[], Transport]) -> None:
        self._make = transports
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open = ExitStack()

    def mine(self) -> Transport:
        """This thread's transport."""
        transport: Transport | None = getattr(self._local, "transport", None)
        if transport is None:
            opened = self._make()
            with self._lock:
                transport = self._open.enter_context(opened)
            self._local.transport = transport
        return transport

    def close(self) -> None:
        """Close every transport (QUIT for SMTP sessions); the pool's threads are done."""
        self._open.close()


class _Sender:
    """What each worker does with a delivery: make its message and send it with retries,
    unless the loop is stopping."""

    def __init__(
        self,
        sessions: _Sessions,
        prepare: Callable[[Delivery], tuple[bytes, Envelope]],
        retries: tuple[int, float],
        pacer: Pacer,
        sleep: Callable[[float], None],
        should_stop: Callable[[], bool],
    ) -> None:
        self.sessions = sessions
        self.prepare = prepare
        self.retries = retries
        self.pacer = pacer
        self.sleep = sleep
        self.should_stop = should_stop
        self.halt = threading.Event()
        self.stopped = ""  # a transport that stopped answering, and its reply

    def stopping(self) -> bool:
        """A stop was asked for (a signal), or the loop is ending (the relay refused)."""
        return self.halt.is_set() or self.should_stop()

    def __call__(self, delivery: Delivery) -> Answer:
        if self.stopping():
            return None, 0
        try:
            return self._send(delivery)
        except BaseException:  # a session that cannot start (TLS, login, a folder)
            self.halt.set()
            raise

    def _send(self, delivery: Delivery) -> Answer:
        transport = self.sessions.mine()
        try:
            message = self.prepare(delivery)
        except ComposeError as e:  # this reader's message cannot be made: they fail alone
            return Outcome("permanent", f"{e.message} ({e.hint})"), 0
        outcome, tries = attempt(
            transport, self.retries, message, self.pacer, self.sleep, self.stopping
        )
        if outcome.verdict == "connection":
            self.stopped = f"{transport.where} stopped answering ({outcome.reply})"
        return outcome, tries


def deliver_all(
    deliveries: Iterable[Delivery],
    *,
    transports: Callable[[], Transport],
    connections: int,
    prepare: Callable[[Delivery], tuple[bytes, Envelope]],
    record: Record,
    retries: tuple[int, float],
    pacer: Pacer,
    sleep: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> LoopResult:
    """Send every delivery once over ``connections`` transports; ``record`` each outcome.

    ``prepare`` makes a reader's message (ComposeError: that reader fails alone). ``record``
    runs in the calling thread, in the order outcomes arrive; at most two deliveries per
    connection are handed out ahead, so a stop leaves the rest untouched.
    """
    sessions = _Sessions(transports)
    sender = _Sender(sessions, prepare, retries, pacer, sleep, should_stop)
    settle = _Settler(record, sender.halt)
    pending = _Pending(iter(deliveries), sender, 2 * connections)
    try:
        with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="send") as pool:
            try:
                while pending.hand_out(pool):
                    with contextlib.suppress(queue.Empty):  # short waits: a signal gets in
                        settle(*pending.answer(WAIT_S))
            finally:
                # Whatever ended the loop (the source raising included): stop the workers,
                # and log every answer that comes back, so no reader the relay accepted is
                # left pending.
                sender.halt.set()
                while pending.running:
                    settle(*pending.answer(None))
    finally:
        sessions.close()
    result = settle.result
    result.stopped = sender.stopped
    if settle.errors and result.refusal is None:
        raise settle.errors[0]
    return result


class _Pending:
    """The deliveries handed to the pool and not answered yet, and the answers as they
    come (in the order they come)."""

    def __init__(self, source: Iterator[Delivery], sender: _Sender, ahead: int) -> None:
        self.source = source
        self.sender = sender
        self.ahead = ahead
        self.running: dict[Future[Answer], Delivery] = {}
        self.answers: queue.SimpleQueue[Future[Answer]] = queue.SimpleQueue()

    def hand_out(self, pool: ThreadPoolExecutor) -> bool:
        """Keep the connections busy: up to ``ahead`` deliveries in the pool; False once
        none are left in it (all answered, or the loop is stopping)."""
        while len(self.running) < self.ahead and not self.sender.stopping():
            delivery = next(self.source, None)
            if delivery is None:
                break
            future = pool.submit(self.sender, delivery)
            self.running[future] = delivery
            future.add_done_callback(self.answers.put)
        return bool(self.running)

    def answer(self, timeout: float | None) -> tuple[Delivery, Future[Answer]]:
        """The next answer and its delivery (queue.Empty after ``timeout`` seconds)."""
        future = self.answers.get(timeout=timeout)
        return self.running.pop(future), future


class _Settler:
    """Logs each answer in the calling thread; stops the loop when the relay, not the
    reader, is refusing."""

    def __init__(self, record: Record, halt: threading.Event) -> None:
        self.record = record
        self.halt = halt
        self.watch = _RelayWatch()
        self.result = LoopResult()
        self.errors: list[BaseException] = []

    def __call__(self, delivery: Delivery, future: Future[Answer]) -> None:
        error = future.exception()
        if error is not None:
            self.halt.set()
            self.errors.append(error)
            return
        outcome, tries = future.result()
        if outcome is not None:  # None: not sent, the loop is stopping
            self.settle(delivery, outcome, tries)

    def settle(self, delivery: Delivery, outcome: Outcome, tries: int) -> None:
        """Log one outcome; a refusal of the session or of everyone alike ends the loop."""
        result = self.result
        if outcome.verdict == "session":
            self.record(delivery, Outcome("temporary", outcome.reply), tries)
            hint = relay_hint(outcome.reply, at_sender=True)
            result.refusal = result.refusal or Refusal(outcome.reply, hint)
            self.halt.set()
            return
        self.record(delivery, outcome, tries)
        if outcome.verdict == "sent":
            result.sent += 1
            self.watch.sent()
        elif outcome.verdict == "connection":
            self.halt.set()
        elif outcome.verdict == "permanent":
            streak = self.watch.refused(delivery, outcome.reply)
            if streak is not None:
                for refused in streak:  # not these readers' fault: back in the queue
                    self.record(refused, Outcome("temporary", outcome.reply), 0)
                result.requeued = streak
                result.refusal = Refusal(outcome.reply, relay_hint(outcome.reply))
                self.halt.set()
