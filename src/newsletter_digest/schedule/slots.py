"""Slot maths: when issues are due, in pure functions of the schedule, ``now`` and the state.

A *slot* is a scheduled time an issue belongs to. Slots are numbered by an index ``k >= 0``
from the schedule's anchor, so "which slot is due", "how many were missed" and "which comes
next" are arithmetic, never a scan. No clock and no I/O here: callers pass ``now``.

Rules (docs/scheduling.md says the same):

- Calendar schedules (a weekday, ``day``, ``N days``, ``N weeks``) fire at the wall-clock
  time ``at`` in ``timezone`` on each slot date. A time the spring DST change skips is moved
  forward by the length of the gap (02:30 becomes 03:30); a time the autumn change repeats is
  the first of the two (summer time). Both follow RFC 5545 and ``zoneinfo`` with ``fold=0``.
- Intervals under a day (``N hours``, ``N minutes``, ``N seconds``) are real elapsed time
  counted from ``start`` at ``at``; they do not follow the wall clock across DST changes.
- ``N days`` / ``N weeks`` count from ``start`` (default :data:`DEFAULT_START`, a Monday);
  a weekday schedule's first slot is the first such weekday on or after ``start``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from newsletter_digest.errors import shorten

CatchUp = Literal["latest", "skip"]

DEFAULT_START = date(2024, 1, 1)  # a Monday: "2 weeks" without a start means even weeks from it
ON_TIME = timedelta(minutes=15)  # how late a slot may be made with catch_up: skip
MAX_LISTED = 5  # missed slots logged one by one; more are summed up in one line
# Bounds that keep every slot a datetime can hold (docs/scheduling.md says them).
MAX_EVERY = timedelta(days=3650)  # about ten years between slots
MAX_GRACE = timedelta(days=365)  # a slot can be made up to a year late
FIRST_START = date(1970, 1, 1)
LAST_START = date(2999, 12, 31)
_SECOND = timedelta(seconds=1)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS: dict[str, timedelta] = {}
for _names, _size in (
    (("s", "sec", "secs", "second", "seconds"), timedelta(seconds=1)),
    (("m", "min", "mins", "minute", "minutes"), timedelta(minutes=1)),
    (("h", "hour", "hours"), timedelta(hours=1)),
    (("d", "day", "days"), timedelta(days=1)),
    (("w", "week", "weeks"), timedelta(weeks=1)),
):
    _UNITS.update(dict.fromkeys(_names, _size))
_MILLI = timedelta(milliseconds=1)
# Durations (not intervals) also take milliseconds: a timeout or a retry delay under a second.
_SPANS = {**_UNITS, "ms": _MILLI, "msec": _MILLI, "millisecond": _MILLI, "milliseconds": _MILLI}
_AMOUNT = re.compile(r"(\d+)\s*([a-z]+)")
_DURATION = re.compile(r"(?:\d+\s*[a-z]+\s*)+")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")

EVERY_HELP = (
    "expected a weekday (monday), 'day', or an interval like '2 weeks', '3 days', "
    "'6 hours', '30 seconds'"
)


@dataclass(frozen=True, slots=True)
class Every:
    """How often: whole calendar days (``days``) or a fixed elapsed interval (``seconds``)."""

    days: int = 0
    seconds: int = 0
    weekday: int | None = None  # 0 = Monday, for "every: monday"

    def __post_init__(self) -> None:
        if (self.days > 0) == (self.seconds > 0):
            raise ValueError("exactly one of days and seconds must be set")


def parse_every(text: str) -> Every:
    """``monday``/``mon``, ``day``, ``week``, ``2 weeks``, ``3 days``, ``6 hours``, ``5 seconds``,
    or an interval written as a duration is (``2w``, ``12h``, ``1h30m``).

    Days and weeks are calendar days at a wall-clock time; hours, minutes and seconds are
    elapsed time (``24 hours`` drifts by an hour against the wall clock at a DST change).
    """
    word = " ".join(text.lower().split())
    for index, name in enumerate(WEEKDAYS):
        if word in (name, name[:3]):
            return Every(days=7, weekday=index)
    if word in _UNITS:
        word = f"1 {word}"
    parts = list(_AMOUNT.finditer(word))
    known = all(p.group(2) in _UNITS and int(p.group(1)) >= 1 for p in parts)
    if _DURATION.fullmatch(word) is None or not known:
        raise ValueError(f"{EVERY_HELP} (got {shorten(text)})")
    units = [_UNITS[p.group(2)] for p in parts]
    if min(units) < timedelta(days=1) <= max(units):
        raise ValueError(
            f"an interval is whole days or weeks, or hours, minutes and seconds, not both: "
            f"write '36 hours' for '1 day 12 hours' (got {shorten(text)})"
        )
    # An int: never overflows. "1h30m" is one interval, as a duration is written.
    seconds = sum(int(p.group(1)) * (_UNITS[p.group(2)] // _SECOND) for p in parts)
    unit = min(units)
    if seconds > MAX_EVERY // _SECOND:
        raise ValueError(
            f"expected an interval of at most {MAX_EVERY.days} days (about ten years) "
            f"(got {shorten(text)})"
        )
    if unit >= timedelta(days=1):
        return Every(days=seconds // (timedelta(days=1) // _SECOND))
    return Every(seconds=seconds)


def parse_duration(value: str | int, at_most: timedelta = timedelta.max) -> timedelta:
    """``2d``, ``36h``, ``1d12h``, ``90m``, ``45s``, ``1w``, ``3 days``, ``500ms``; a bare int
    is seconds.

    A duration longer than ``at_most`` is refused (counted in ints, so it never overflows).
    """
    expected = f"expected a duration like '2d', '36h', '1d12h' or '90m' (got {shorten(value)})"
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(expected)
        millis = value * 1000
    else:
        text = " ".join(str(value).lower().split())
        parts = list(_AMOUNT.finditer(text))
        if _DURATION.fullmatch(text) is None or any(p.group(2) not in _SPANS for p in parts):
            raise ValueError(expected)
        millis = sum(int(p.group(1)) * (_SPANS[p.group(2)] // _MILLI) for p in parts)
    if millis > at_most // _MILLI:
        raise ValueError(f"expected at most {format_duration(at_most)} (got {shorten(value)})")
    return timedelta(milliseconds=millis)


def parse_at(value: str) -> time:
    """``09:00``, ``9:00`` or ``09:00:30`` (24-hour clock)."""
    match = _CLOCK.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"expected a time of day like '09:00' or '18:30:00' (got {shorten(value)})"
        )
    hour, minute, second = (int(g or 0) for g in match.groups())
    return time(hour, minute, second)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``); a typo gets a "did you mean"."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    known = {key.lower(): key for key in available_timezones()}
    close = difflib.get_close_matches(name.lower(), known, n=1)
    if close:
        raise ValueError(f"unknown time zone {shorten(name)}; did you mean {known[close[0]]!r}?")
    raise ValueError(
        f"unknown time zone {shorten(name)}: expected an IANA name like 'Europe/Berlin'"
    )


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule: when slots are, and what to do about the ones that passed."""

    every: Every
    at: time
    zone: ZoneInfo
    start: date = DEFAULT_START
    catch_up: CatchUp = "latest"
    grace: timedelta = timedelta(days=2)

    @property
    def timezone(self) -> str:
        """The IANA name of the schedule's time zone (kept with every slot)."""
        return self.zone.key

    @property
    def first_date(self) -> date:
        """The date of slot 0: ``start``, or the first chosen weekday on or after it."""
        if self.every.weekday is None:
            return self.start
        return self.start + timedelta(days=(self.every.weekday - self.start.weekday()) % 7)

    @property
    def window(self) -> timedelta:
        """How long after its time a slot may still be made."""
        return self.grace if self.catch_up == "latest" else min(self.grace, ON_TIME)

    def describe(self) -> str:
        """One line for logs and ``digest next``."""
        e, at, tz = self.every, clock(self.at), self.timezone
        if e.weekday is not None:
            what = f"every {WEEKDAYS[e.weekday]} at {at} {tz}"
        elif e.days == 1:
            what = f"every day at {at} {tz}"
        elif e.days:
            weeks, days = divmod(e.days, 7)
            count, unit = (weeks, "week") if not days else (e.days, "day")
            every = f"every {count} {unit}s" if count > 1 else f"every {unit}"
            on = f" on {WEEKDAYS[self.first_date.weekday()]}" if unit == "week" else ""
            what = f"{every}{on} at {at} {tz}, counted from {self.first_date.isoformat()}"
        else:
            span = format_duration(timedelta(seconds=e.seconds))
            what = f"every {span}, counted from {self.first_date.isoformat()} {at} {tz}"
        return f"{what} (catch_up: {self.catch_up}, grace: {format_duration(self.grace)})"


def slot_on(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``zone`` (DST rules: module doc)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _anchor(schedule: Schedule) -> datetime:
    return slot_on(schedule.first_date, schedule.at, schedule.zone)


def slot_at(schedule: Schedule, index: int) -> datetime:
    """Slot number ``index`` (0 is the first), in UTC."""
    every = schedule.every
    if every.days:
        day = schedule.first_date + timedelta(days=index * every.days)
        return slot_on(day, schedule.at, schedule.zone)
    return _anchor(schedule) + index * timedelta(seconds=every.seconds)


def index_at_or_before(schedule: Schedule, moment: datetime) -> int:
    """The index of the latest slot at or before ``moment``; -1 when none is."""
    moment = moment.astimezone(UTC)  # compare in UTC: local times in a repeated hour don't
    every = schedule.every
    if every.days:
        local_day = moment.astimezone(schedule.zone).date()
        index = (local_day - schedule.first_date).days // every.days
    else:
        index = (moment - _anchor(schedule)) // timedelta(seconds=every.seconds)
    # A slot on the same local day may still be ahead (later time, or moved by a DST gap).
    while index >= 0 and slot_at(schedule, index) > moment:
        index -= 1
    return max(index, -1)


def latest_slot(schedule: Schedule, now: datetime) -> datetime | None:
    """The most recent slot at or before ``now`` (UTC), or None before the first one."""
    index = index_at_or_before(schedule, now)
    return slot_at(schedule, index) if index >= 0 else None


def next_slots(schedule: Schedule, after: datetime, count: int = 1) -> list[datetime]:
    """The ``count`` slots strictly after ``after``, in UTC, soonest first."""
    first = index_at_or_before(schedule, after) + 1
    return [slot_at(schedule, first + n) for n in range(count)]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do at ``now``: make ``due``, or skip it, and which earlier slots were missed."""

    due: datetime | None
    make: bool
    missed: tuple[datetime, ...] = ()  # the most recent missed slots before ``due``, oldest first
    missed_count: int = 0
    reason: str = ""  # why ``due`` is skipped, when it is

    @property
    def skip(self) -> bool:
        """``due`` passed too long ago to be made: record it as skipped."""
        return self.due is not None and not self.make


def decide(schedule: Schedule, now: datetime, last: datetime | None) -> Decision:
    """Which slot to act on at ``now``, given the latest slot recorded (made or skipped).

    Only slots after ``last`` count, so a slot is never made twice, and when the clock moves
    back nothing is made until it passes the next slot after ``last`` again. Of the slots
    that passed since ``last``, only the most recent one can be made (within the window),
    the others are missed.
    """
    now = now.astimezone(UTC)
    due_index = index_at_or_before(schedule, now)
    if due_index < 0:
        return Decision(due=None, make=False)
    due = slot_at(schedule, due_index)
    if last is not None and due <= last:
        return Decision(due=None, make=False)
    missed_count = 0
    if last is not None:
        missed_count = max(due_index - index_at_or_before(schedule, last) - 1, 0)
    listed = range(due_index - min(missed_count, MAX_LISTED), due_index)
    missed = tuple(slot_at(schedule, index) for index in listed)
    late = now - due
    if late <= schedule.window:
        return Decision(due=due, make=True, missed=missed, missed_count=missed_count)
    if schedule.catch_up == "skip":
        reason = f"{format_duration(late, coarse=True)} late and catch_up is skip"
    else:
        grace = format_duration(schedule.grace)
        reason = f"{format_duration(late, coarse=True)} late, more than grace {grace}"
    return Decision(due=due, make=False, missed=missed, missed_count=missed_count, reason=reason)


def localize(moment: datetime, zone: ZoneInfo) -> datetime:
    """A ``--now`` value: naive means wall-clock time in ``zone`` (first of a repeated hour)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment


def clock(at: time) -> str:
    """``09:00``, or ``09:00:30`` when there are seconds."""
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


def format_slot(slot: datetime, zone: ZoneInfo) -> str:
    """``2026-11-30 09:00 CET (08:00 UTC)``: local wall time first, then UTC."""
    local = slot.astimezone(zone)
    utc = slot.astimezone(UTC)
    seconds = bool(local.second)
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    utc_fmt = "%H:%M:%S" if seconds else "%H:%M"
    if local.date() != utc.date():
        utc_fmt = f"%Y-%m-%d {utc_fmt}"
    return f"{local.strftime(fmt)} {local.tzname()} ({utc.strftime(utc_fmt)} UTC)"


def format_duration(span: timedelta, *, coarse: bool = False) -> str:
    """``2d``, ``1d12h``, ``5m30s``, ``0s``: the units ``grace`` is written in.

    ``coarse`` drops the seconds from spans of an hour or more (for "late" and "in").
    """
    total = int(span.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("", total)
    if coarse and total >= 3600:
        total -= total % 60
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, total = divmod(total, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + ("".join(parts) or "0s")
