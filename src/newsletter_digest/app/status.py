"""The use case of `digest status`: one screen for an operator, and what needs a person.

Everything is read from the config and the state, read-only: the next slot, the last issue
and its deliveries, readers by status, sources and their last error, when the inbox was
last read, and a list of what waits for someone (pending deliveries, failing sources,
returned mail only a person can judge).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter_digest.app.refresh import SourceStatus, statuses
from newsletter_digest.config.loading import Config
from newsletter_digest.readers import book
from newsletter_digest.schedule import slots as scheduler
from newsletter_digest.state.inbox_reads import InboxRead, last_inbox_read
from newsletter_digest.state.store import UNFINISHED, open_state


@dataclass(frozen=True)
class LastIssue:
    """The last issue made and how its deliveries stand."""

    number: int
    date: str
    subject: str
    deliveries: dict[str, int]  # status -> count
    pending: int  # deliveries not finished yet (not sent, or to be tried again)


@dataclass(frozen=True)
class Status:
    """What `digest status` shows; ``needs_you`` lists what waits for a person."""

    title: str
    schedule: str | None  # the schedule in words, None without one
    zone: str  # the schedule's time zone (UTC without one)
    next_slot: datetime | None
    due_now: datetime | None  # a slot that `digest run --once` would make now
    last_issue: LastIssue | None
    readers: dict[str, int]
    listed: int  # addresses in digest.yaml's recipients (and file), synced into the book
    sources: tuple[SourceStatus, ...]
    inbox: InboxRead | None
    inbox_configured: bool
    needs_you: tuple[str, ...]


def gather(config: Config, now: datetime) -> Status:
    """Read the status of the newsletter of ``config`` at ``now``; changes nothing."""
    s = config.settings
    with open_state(s.state, readonly=True) as state:
        records = state.issues()
        counts = state.delivery_counts()
        readers = book.counts(state)
        sources = statuses(config, state)
        inbox = last_inbox_read(state)
        last_slot = state.last_slot()
    last = records[-1] if records else None
    last_issue = None
    if last is not None:
        by_status = counts.get(last.number, {})
        pending = sum(by_status.get(status, 0) for status in UNFINISHED)
        last_issue = LastIssue(last.number, last.date.isoformat(), last.subject, by_status, pending)
    schedule_text, next_slot, due, zone = None, None, None, "UTC"
    if s.schedule is not None:
        sched = s.schedule.to_schedule()
        schedule_text, zone = sched.describe(), sched.zone.key
        last_at = last_slot.slot.at if last_slot else None
        decision = scheduler.decide(sched, now, last_at)
        due = decision.due if decision.make else None
        after = max(now, last_at) if last_at is not None else now
        next_slot = scheduler.next_slots(sched, after, 1)[0]
    needs = _needs_you(counts, sources, inbox)
    return Status(
        s.title, schedule_text, zone, next_slot, due, last_issue, readers,
        sum(1 for _ in config.iter_recipients()), tuple(sources), inbox, s.inbox is not None,
        tuple(needs),
    )  # fmt: skip


def _needs_you(
    counts: dict[int, dict[str, int]], sources: list[SourceStatus], inbox: InboxRead | None
) -> list[str]:
    """What a person has to look at, each with the command that shows or does it."""
    needs = []
    for number, by_status in sorted(counts.items()):
        waiting = sum(by_status.get(status, 0) for status in UNFINISHED)
        if waiting:
            needs.append(
                f"issue #{number}: {waiting} deliveries not sent yet "
                f"('digest send {number}' resumes; 'digest history {number}' shows the replies)"
            )
    for source in sources:
        if source.error:
            needs.append(f"source {source.key} failed: {source.error} ('digest sources')")
    if inbox is not None and inbox.needs_you:
        needs.append(
            f"inbox: {inbox.needs_you} returned messages only you can judge "
            "('digest inbox --dry-run' lists them)"
        )
    return needs
