"""The scheduler at work: ``digest run`` (a loop on the ``schedule`` library) and ``run --once``.

An adapter: each tick is the use case's (app/schedule.py: resume a send, skip or make a slot,
with the same use cases as ``digest build`` and ``digest send``); this module keeps the beat,
sleeps between ticks, holds the run lock and logs one line per event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta

from newsletter_digest.app.issues import IssueMade
from newsletter_digest.app.schedule import (
    LockedError,
    TickEvents,
    TickResult,
    look,
    run_lock,
    tick,
    upcoming,
)
from newsletter_digest.app.sending import SendReport, delivers
from newsletter_digest.app.sources import SourcesRefreshed
from newsletter_digest.clock import utc_now as utc_now  # the one clock; re-exported for cli_run
from newsletter_digest.config.loading import Config
from newsletter_digest.errors import ConfigError, DigestError, shorten
from newsletter_digest.schedule import slots as scheduler
from newsletter_digest.schedule.slots import Schedule, format_duration

log = logging.getLogger("newsletter_digest.run")

TICK_S = 1  # how often the loop looks at the clock: also how fast it notices a signal
RETRY = timedelta(seconds=60)  # after a failure, the slot is tried again this much later
Clock = Callable[[], datetime]


def require_schedule(config: Config) -> Schedule:
    """The config's schedule, or a clear error when it has none."""
    section = config.settings.schedule
    if section is None:
        raise ConfigError(
            f"{config.path}: there is no schedule section in the config",
            "add one, like 'schedule: {every: monday, at: \"09:00\", timezone: Europe/Berlin}' "
            "(see docs/scheduling.md)",
        )
    return section.to_schedule()


class Runner(TickEvents):
    """Ticks with the clock and logs what each tick does; keeps only a cache of the state in
    memory (the tick itself is the use case's: app/schedule.py)."""

    def __init__(
        self,
        config: Config,
        *,
        send: bool = True,
        should_stop: Callable[[], bool] = lambda: False,
        retry: timedelta = RETRY,
        verbose: bool = False,
        before_issue: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.before_issue = before_issue  # e.g. reading returned mail: the caller's to give
        self.schedule = require_schedule(config)
        self.send = send and delivers(config)
        self.should_stop = should_stop
        self.retry = retry
        self.verbose = verbose
        self.known_last: datetime | None = None  # latest recorded slot, as last read
        self.looked = False
        self.resume: bool = False  # the latest slot's issue still has recipients to send to
        self.retry_at: datetime | None = None
        self.announced: datetime | None = None
        self.missed_logged: datetime | None = None

    def fmt(self, slot: datetime) -> str:
        """A slot for the log, in local time and UTC."""
        return scheduler.format_slot(slot, self.schedule.zone)

    # The loop ---------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """One look at the clock: step when a new slot passed or a retry is due."""
        if self.should_stop() or (self.retry_at is not None and now < self.retry_at):
            return
        if self.looked and not self._has_work(now):
            return
        result = self.step(now)
        self.retry_at = now + self.retry if result.failed else None
        if result.failed:
            log.info("trying again at %s", self.fmt(self.retry_at or now))
        self.announce_next(now)

    def _has_work(self, now: datetime) -> bool:
        due = scheduler.latest_slot(self.schedule, now)
        new = due is not None and (self.known_last is None or due > self.known_last)
        return new or self.resume

    def loop(self, clock: Clock = utc_now, sleep: Callable[[float], None] = time.sleep) -> None:
        """Tick every second until a signal: the ``schedule`` library keeps the beat."""
        import schedule

        jobs = schedule.Scheduler()
        jobs.every(TICK_S).seconds.do(lambda: self.tick(clock()))
        log.info("scheduler started: %s", self.schedule.describe())
        self.tick(clock())
        while not self.should_stop():
            idle = jobs.idle_seconds
            if idle is not None and idle > TICK_S:
                # `schedule` counts in naive local time: after the clock (or a DST change)
                # moved back its next run is far ahead, so tick now and re-arm from here.
                jobs.run_all()
            else:
                jobs.run_pending()
            if self.should_stop():
                break
            sleep(min(max(jobs.idle_seconds or 0.0, 0.0), TICK_S))
        log.info("stopped by a signal; nothing was left half-written")

    def step(self, now: datetime) -> TickResult:
        """Everything due at ``now`` (the tick use case), and what it found kept in memory."""
        result = tick(
            self.config,
            self.schedule,
            now,
            send=self.send,
            events=self,
            should_stop=self.should_stop,
        )
        if result.looked:
            self.looked = True
            self.known_last = result.last
            self.resume = result.resume
        return result

    # What a tick does, in the log ---------------------------------------------------------

    def unreadable(self, error: DigestError) -> None:
        log.error("cannot read the state: %s", error.message)

    def resuming(self, slot: datetime, number: int) -> None:
        log.info("slot %s: issue #%d not sent to everyone yet", self.fmt(slot), number)

    def missed(self, decision: scheduler.Decision) -> None:
        if decision.due == self.missed_logged or not decision.missed_count:
            return
        self.missed_logged = decision.due
        why = (
            "only the most recent missed slot is made (catch_up: latest)"
            if self.schedule.catch_up == "latest"
            else "catch_up is skip"
        )
        earlier = decision.missed_count - len(decision.missed)
        if earlier:
            log.info("%d earlier slots skipped: missed while not running", earlier)
        for slot in decision.missed:
            log.info("slot %s skipped: missed while not running; %s", self.fmt(slot), why)

    def not_skipped(self, slot: datetime, error: DigestError) -> None:
        log.error("slot %s: cannot record it as skipped: %s", self.fmt(slot), error.message)

    def skipped(self, slot: datetime, reason: str) -> None:
        log.info(
            "slot %s skipped: %s",
            self.fmt(slot),
            reason,
            extra={"event": "slot.skipped", "slot": slot.isoformat()},
        )

    def due(self, slot: datetime) -> None:
        log.info(
            "slot %s due", self.fmt(slot), extra={"event": "slot.due", "slot": slot.isoformat()}
        )
        if self.before_issue is not None:
            try:
                self.before_issue()
            except Exception as e:  # what came back is read again next time; the issue goes
                log.warning("before slot %s: %s", self.fmt(slot), getattr(e, "message", e))

    def refreshed(self, sources: SourcesRefreshed) -> None:
        for source in sources.sources:
            event = "source.failed" if source.error else "source.refreshed"
            log.log(
                logging.WARNING if source.error else logging.INFO,
                "source %s: %s %s",
                source.key,
                source.outcome,
                source.error,
                extra={"event": event, "source": source.key, "outcome": source.outcome},
            )
            for note in source.notes if source.read else ():
                log.warning("source %s: %s", source.key, note)

    def taken(self, slot: datetime, message: str) -> None:
        log.info("slot %s: nothing to do, %s", self.fmt(slot), message)

    def built(self, slot: datetime, made: IssueMade) -> None:
        built, due = made.build, self.fmt(slot)
        for problem in built.problems:
            log.warning("slot %s: %s (skipped)", due, problem)
        for warning in built.warnings:
            log.warning("slot %s: %s", due, warning)
        number = built.record.number
        if built.recovered:
            log.info(
                "slot %s: issue #%d made (recovered from an interrupted build): %s",
                due,
                number,
                built.folder,
            )
            return
        log.info(
            "slot %s: issue #%d made: %s",
            due,
            number,
            built.folder,
            extra={"event": "issue.built", "issue": number, "slot": slot.isoformat()},
        )

    def held(self, slot: datetime, number: int, *, stopping: bool) -> None:
        if stopping:
            log.info("stopping before sending issue #%d; the next run sends it", number)
            return
        log.warning(
            "slot %s: issue #%d came back from the outbox after the state lost track of "
            "it; it may have gone out before, so it is not sent (digest send %d sends it)",
            self.fmt(slot),
            number,
            number,
        )

    def sending(self, slot: datetime, number: int) -> None:
        log.info(
            "issue #%d: sending",
            number,
            extra={"event": "send.started", "issue": number, "slot": slot.isoformat()},
        )

    def sent(self, slot: datetime, number: int, report: SendReport) -> None:
        line = f"slot {self.fmt(slot)}: issue #{number} sent to {report.sent}/{report.total}"
        if report.failed or report.pending:
            line += f" ({report.failed} failed for good, {report.pending} pending)"
        if report.bounced:
            line += f"; {report.bounced} of them bounced (no such address), marked so"
        if report.left:
            line += f"; {report.left} left before their turn"
        if report.stopped:
            line += f"; {report.stopped}"
        counts = {"sent": report.sent, "failed": report.failed, "pending": report.pending}
        counts |= {"bounced": report.bounced, "left": report.left}
        log.log(
            logging.WARNING if report.needs_person else logging.INFO,
            "%s",
            line,
            extra={"event": "send.finished", "issue": number, "total": report.total, **counts},
        )

    def failed(self, slot: datetime, what: str, error: Exception) -> None:
        e = error
        message = e.message if isinstance(e, DigestError) else f"{type(e).__name__}: {e}"
        hint = f" (hint: {e.hint})" if isinstance(e, DigestError) and e.hint else ""
        log.error(
            "slot %s: %s failed: %s%s",
            self.fmt(slot),
            what,
            message,
            hint,
            exc_info=self.verbose or not isinstance(e, DigestError),
            extra={"event": "slot.failed", "slot": slot.isoformat(), "step": what},
        )

    def announce_next(self, now: datetime) -> None:
        """Log the next slot once each time it changes."""
        after = max(now, self.known_last) if self.known_last is not None else now
        upcoming = scheduler.next_slots(self.schedule, after)[0]
        if upcoming != self.announced:
            self.announced = upcoming
            log.info(
                "next slot at %s",
                self.fmt(upcoming),
                extra={"event": "slot.next", "slot": upcoming.isoformat()},
            )


def run(
    config: Config,
    *,
    once: bool,
    send: bool = True,
    verbose: bool = False,
    clock: Clock = utc_now,
    before_issue: Callable[[], None] | None = None,
) -> int:
    """``digest run [--once]``: hold the run lock, handle signals, step or loop; exit code.

    It acts at ``clock()``, the real time (tests inject theirs): there is no way to make,
    send or record a slot at another time (``look`` only says what that would do).
    """
    from newsletter_digest.signals import stop_on_signals

    runner = Runner(config, send=send, verbose=verbose, before_issue=before_issue)
    with ExitStack() as stack:
        try:
            stack.enter_context(run_lock(config))
        except LockedError as e:
            if not once:
                raise
            log.info("%s; this run leaves the slots to it", e.message)
            return 0
        runner.should_stop = stack.enter_context(stop_on_signals())
        if not once:
            runner.loop(clock)
            return 0
        moment = clock()
        result = runner.step(moment)
        runner.announce_next(moment)
        return 1 if result.failed or result.incomplete else 0
    return 0  # pragma: no cover - ExitStack does not swallow exceptions


def look_lines(
    config: Config, now: datetime, *, send: bool = True, clock: Clock = utc_now
) -> Iterator[str]:
    """``digest run --once --now``: what the scheduler would do at ``now``, changing nothing.

    Nothing is made, sent or recorded, whether ``now`` is ahead of the real clock or behind
    it: mail goes out when it is sent, whatever ``now`` says, so only a run at the real time
    makes, sends or records a slot (docs/scheduling.md gives the reasons).
    """
    from newsletter_digest.report import issue_lines

    runner = Runner(config, send=send)
    now = now.astimezone(runner.schedule.zone)
    offset = now - clock()
    when = "ahead of" if offset > timedelta(0) else "behind"
    yield (
        f"dry run as if it were {runner.fmt(now)}, {format_duration(abs(offset), coarse=True)} "
        f"{when} the real clock: nothing is made, sent or recorded"
    )
    seen = look(config, runner.schedule, now, send=send)
    last, decision = seen.last, seen.decision
    if last is not None and seen.resume is not None:
        at, number = runner.fmt(last.slot.at), seen.resume
        yield f"slot {at}: issue #{number} would be sent to those not reached"
    earlier = decision.missed_count - len(decision.missed)
    if earlier:
        yield f"{earlier} earlier slots would be skipped: missed while not running"
    for slot in decision.missed:
        yield f"slot {runner.fmt(slot)} would be skipped: missed while not running"
    if decision.due is None:
        yield "no slot would be due"
    elif seen.plan is None:
        yield f"slot {runner.fmt(decision.due)} would be recorded as skipped: {decision.reason}"
    else:
        plan = seen.plan
        sent = " and sent" if runner.send else ""
        yield f"slot {runner.fmt(decision.due)} due: issue #{plan.info.number} would be made{sent}"
        yield f"  subject: {plan.rendered.subject}"
        yield from (f"  {line}" for line in issue_lines(plan.selection))
    known = max(now, last.slot.at) if last is not None else now
    yield f"next slot after that: {runner.fmt(scheduler.next_slots(runner.schedule, known)[0])}"
    yield "only 'digest run' and 'digest run --once' at the real time make, send and record issues"


def next_lines(config: Config, now: datetime, count: int = 3) -> Iterator[str]:
    """``digest next``: the schedule, the latest slot, what is due now, the next slots."""
    sched = require_schedule(config)
    now = now.astimezone(sched.zone)
    found = upcoming(config, sched, now, count)
    last, decision = found.last, found.decision
    yield f"schedule: {sched.describe()}"

    def fmt(slot: datetime) -> str:
        return scheduler.format_slot(slot, sched.zone)

    if last is None:
        yield "last slot: none recorded yet"
    else:
        what = f"issue #{last.issue_number}" if last.issue_number is not None else "skipped"
        yield f"last slot: {fmt(last.slot.at)}: {what}"
    if decision.due is None:
        yield "due now: nothing"
    elif decision.make:
        late = format_duration(now - decision.due, coarse=True)
        yield f"due now: {fmt(decision.due)}, {late} ago: 'digest run --once' makes it"
    else:
        yield f"due now: nothing; {fmt(decision.due)} will be skipped ({decision.reason})"
    yield "next slots:"
    for slot in found.slots:
        yield f"  {fmt(slot)}  in {format_duration(slot - now, coarse=True)}"


def parse_now(text: str, config: Config) -> datetime:
    """A ``--now`` value: ISO 8601; without an offset it is wall time in the schedule's zone."""
    sched = require_schedule(config)
    when = datetime.fromisoformat(text)
    if not scheduler.FIRST_START <= when.date() <= scheduler.LAST_START:
        raise ValueError(
            f"{shorten(text)} is outside {scheduler.FIRST_START}..{scheduler.LAST_START}"
        )
    return scheduler.localize(when, sched.zone)
