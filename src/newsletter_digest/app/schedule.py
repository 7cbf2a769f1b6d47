"""The scheduler's use cases: one tick (``digest run``, ``run --once``), what a time would
do (``run --once --now``) and the slots to come (``digest next``).

A tick resumes the latest slot's sending, records a slot that passed too long ago as skipped,
or makes the due slot's issue and sends it, with the same use cases ``digest build`` and
``digest send`` use. Every decision comes from the slot maths (schedule/slots.py) and the
slots recorded in the state; the runner around it only keeps time and logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from newsletter_digest.app.issues import IssueEvents, IssueMade, Plan, dry_run, make_next_issue
from newsletter_digest.app.sending import SendReport, delivers, send_issue
from newsletter_digest.config.loading import Config
from newsletter_digest.errors import DigestError, SlotTakenError
from newsletter_digest.models import Slot, SlotRecord
from newsletter_digest.schedule import slots as scheduler
from newsletter_digest.schedule.slots import Decision, Schedule
from newsletter_digest.state.locks import LockedError, process_lock
from newsletter_digest.state.store import UNFINISHED, State, open_state

__all__ = ["LockedError", "TickEvents", "TickResult", "look", "run_lock", "tick", "upcoming"]


class TickEvents(IssueEvents, Protocol):
    """What the runner logs as a tick goes; these say nothing. ``slot`` is the slot acted on."""

    def unreadable(self, error: DigestError) -> None:
        """The state could not be read: the tick is tried again later."""
        return None

    def resuming(self, slot: datetime, number: int) -> None:
        """The latest slot's issue has recipients not reached yet: sending it again."""
        return None

    def missed(self, decision: Decision) -> None:
        """Slots were missed while nothing ran (``decision.missed``)."""
        return None

    def skipped(self, slot: datetime, reason: str) -> None:
        """A slot is recorded as skipped: it passed too long ago."""
        return None

    def not_skipped(self, slot: datetime, error: DigestError) -> None:
        """A slot to skip could not be recorded as skipped: tried again later."""
        return None

    def due(self, slot: datetime) -> None:
        """A slot is due: its issue is made next."""
        return None

    def taken(self, slot: datetime, message: str) -> None:
        """The slot has its issue already (another process made it)."""
        return None

    def built(self, slot: datetime, made: IssueMade) -> None:
        """The slot's issue is made and recorded with its slot."""
        return None

    def held(self, slot: datetime, number: int, *, stopping: bool) -> None:
        """The issue is not sent now: it may have gone out before, or a stop was asked for."""
        return None

    def sending(self, slot: datetime, number: int) -> None:
        """The issue is being sent."""
        return None

    def sent(self, slot: datetime, number: int, report: SendReport) -> None:
        """How sending it went."""
        return None

    def failed(self, slot: datetime, what: str, error: Exception) -> None:
        """A step failed (``what``: "making the issue", "sending issue #N", ...)."""
        return None


class _Quiet(TickEvents):
    """Says nothing."""


@dataclass(frozen=True)
class TickResult:
    """What one tick did, and what the runner keeps of the state until the next one."""

    looked: bool = False  # the state was read (else nothing below is known)
    last: datetime | None = None  # the latest recorded slot, after the tick
    made: int | None = None  # the issue made for the due slot
    failed: bool = False  # an error: the slot (or its sending) is tried again after a wait
    incomplete: bool = False  # an issue was sent, but some recipients need a person
    resume: bool = False  # the latest slot's issue still has recipients to send to


@dataclass
class _Tick:
    """A tick's findings as they come (frozen into a TickResult at the end)."""

    last: datetime | None
    made: int | None = None
    failed: bool = False
    incomplete: bool = False
    resume: bool = False

    def result(self) -> TickResult:
        return TickResult(True, self.last, self.made, self.failed, self.incomplete, self.resume)


def tick(
    config: Config,
    schedule: Schedule,
    now: datetime,
    *,
    send: bool = True,
    events: TickEvents | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TickResult:
    """Everything due at ``now``: resume the latest issue's sending, make or skip a slot."""
    events = events or _Quiet()
    send = send and delivers(config)
    now = now.astimezone(schedule.zone)
    try:
        with open_state(config.settings.state, readonly=True) as state:
            last = state.last_slot()
            resume = _resumable(state, schedule, last, now, send)
    except DigestError as e:
        events.unreadable(e)
        return TickResult(failed=True)
    found = _Tick(last.slot.at if last is not None else None)
    if last is not None and resume is not None:
        events.resuming(last.slot.at, resume)
        _send(config, last.slot.at, resume, found, events)
        if should_stop():
            return found.result()
    decision = scheduler.decide(schedule, now, found.last)
    if decision.due is None:
        return found.result()
    events.missed(decision)
    if decision.skip:
        _skip(config, schedule, decision, now, found, events)
    else:
        _make(config, Slot(decision.due, schedule.timezone), now, found, events, send, should_stop)
    return found.result()


def _resumable(
    state: State, schedule: Schedule, last: SlotRecord | None, now: datetime, send: bool
) -> int | None:
    """The latest slot's issue, if it is within grace and not sent to everyone yet."""
    if not send or last is None or last.issue_number is None:
        return None
    if now - last.slot.at > schedule.grace:
        return None
    number = last.issue_number
    if state.count_deliveries(number) and not state.count_deliveries(number, UNFINISHED):
        return None
    return number


def _skip(
    config: Config,
    schedule: Schedule,
    decision: Decision,
    now: datetime,
    found: _Tick,
    events: TickEvents,
) -> None:
    """Record a slot that passed too long ago, so it is never made (nor logged again)."""
    due = decision.due
    assert due is not None
    stamp = now.isoformat(timespec="seconds")
    try:
        with open_state(config.settings.state) as state, state.write_lock():
            last = state.last_slot()
            if last is None or last.slot.at < due:
                state.record_slot(Slot(due, schedule.timezone), None, stamp)
    except DigestError as e:
        events.not_skipped(due, e)
        found.failed = True
        return
    found.last = due
    events.skipped(due, decision.reason)


def _make(
    config: Config,
    slot: Slot,
    now: datetime,
    found: _Tick,
    events: TickEvents,
    send: bool,
    should_stop: Callable[[], bool],
) -> None:
    """Make the slot's issue (slot and issue recorded together), then send it."""
    due = slot.at
    events.due(due)
    try:
        made = make_next_issue(config, now, slot=slot, events=events)
    except SlotTakenError as e:
        events.taken(due, e.message)
        found.last = due
        return
    except Exception as e:
        events.failed(due, "making the issue", e)
        found.failed = True
        return
    found.last = due
    number = made.build.record.number
    found.made = number
    events.built(due, made)
    if not send:
        return
    if not made.build.sendable or should_stop():
        events.held(due, number, stopping=made.build.sendable)
        return
    _send(config, due, number, found, events)


def _send(config: Config, due: datetime, number: int, found: _Tick, events: TickEvents) -> None:
    """Send the slot's issue, as ``digest send`` does; pending recipients mean a retry."""
    events.sending(due, number)
    try:
        report = send_issue(config, number)
    except Exception as e:
        events.failed(due, f"sending issue #{number}", e)
        found.failed = True
        found.resume = True
        return
    events.sent(due, number, report)
    if report.pending:
        found.failed = True  # try the pending ones again after a wait, within grace
        found.resume = True
    if report.needs_person:
        found.incomplete = True


@contextmanager
def run_lock(config: Config) -> Iterator[None]:
    """Hold the run lock: one scheduler at a time (LockedError when another one runs)."""
    with process_lock(config.settings.state, "run"):
        yield


@dataclass(frozen=True)
class Look:
    """What the scheduler would do at a time, found without changing anything."""

    last: SlotRecord | None  # the latest recorded slot
    resume: int | None  # its issue, if it would be sent to those not reached
    decision: Decision
    plan: Plan | None  # the issue the due slot would get (None: none would be made)


def look(config: Config, schedule: Schedule, now: datetime, *, send: bool = True) -> Look:
    """``digest run --once --now``: what a tick at ``now`` would do; nothing is made, sent
    or recorded (the state is opened read-only, the caches are read but not added to)."""
    send = send and delivers(config)
    now = now.astimezone(schedule.zone)
    with open_state(config.settings.state, readonly=True) as state:
        last = state.last_slot()
        resume = _resumable(state, schedule, last, now, send)
    decision = scheduler.decide(schedule, now, last.slot.at if last else None)
    plan = None
    if decision.due is not None and not decision.skip:
        plan = dry_run(config, now.date()).plan
    return Look(last, resume, decision, plan)


@dataclass(frozen=True)
class Upcoming:
    """``digest next``: the latest recorded slot, what is due now, and the next slots."""

    last: SlotRecord | None
    decision: Decision
    slots: tuple[datetime, ...]


def upcoming(config: Config, schedule: Schedule, now: datetime, count: int = 3) -> Upcoming:
    """The slots to come after ``now`` (or after the latest recorded one, if later)."""
    now = now.astimezone(schedule.zone)
    with open_state(config.settings.state, readonly=True) as state:
        last = state.last_slot()
    decision = scheduler.decide(schedule, now, last.slot.at if last else None)
    after = max(now, last.slot.at) if last is not None else now
    return Upcoming(last, decision, tuple(scheduler.next_slots(schedule, after, count)))
