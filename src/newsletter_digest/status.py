"""`digest status`: one screen for an operator, and what needs a person.

Everything is read from the config and the state, read-only: the next slot, the last issue
and its deliveries, readers by status, sources and their last error, when the inbox was
last read, and a list of what waits for someone (pending deliveries, failing sources,
returned mail only a person can judge).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from newsletter_digest.config.loading import Config
from newsletter_digest.content.refresh import SourceStatus, statuses
from newsletter_digest.readers import book
from newsletter_digest.schedule import slots as scheduler
from newsletter_digest.state.inbox_reads import InboxRead, last_inbox_read
from newsletter_digest.state.store import UNFINISHED, open_state


class LastIssue(NamedTuple):
    number: int
    date: str
    subject: str
    deliveries: dict[str, int]  # status -> count


class Status(NamedTuple):
    """What `digest status` shows; ``needs_you`` lists what waits for a person."""

    title: str
    schedule: str | None  # the schedule in words, None without one
    zone: str  # the schedule's time zone (UTC without one)
    next_slot: datetime | None
    due_now: datetime | None  # a slot that `digest run --once` would make now
    last_issue: LastIssue | None
    readers: dict[str, int]
    listed: int  # addresses in digest.yaml's recipients (and file), synced into the book
    sources: list[SourceStatus]
    inbox: InboxRead | None
    inbox_configured: bool
    needs_you: list[str]


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
    last_issue = (
        LastIssue(last.number, last.date.isoformat(), last.subject, counts.get(last.number, {}))
        if last is not None
        else None
    )
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
        sum(1 for _ in config.iter_recipients()), sources, inbox, s.inbox is not None, needs,
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


def _when(moment: datetime, now: datetime, zone: str) -> str:
    span = scheduler.format_duration(abs(moment - now), coarse=True)
    when = scheduler.format_slot(moment, scheduler.zone(zone))
    return f"{when}, {'in ' + span if moment >= now else span + ' ago'}"


def _deliveries(counts: dict[str, int]) -> str:
    pending = sum(counts.get(s, 0) for s in UNFINISHED)
    parts = [f"{counts.get('sent', 0)} sent", f"{counts.get('failed-permanent', 0)} refused"]
    parts += [f"{pending} not sent yet"] if pending else []
    parts += [f"{counts['left']} left before their turn"] if counts.get("left") else []
    return ", ".join(parts) if counts else "written to the outbox (not sent to readers)"


def status_lines(status: Status, now: datetime) -> list[str]:
    """The screen `digest status` prints."""
    lines = [status.title]
    if status.schedule is None:
        lines.append("schedule:   none (issues are made by 'digest build')")
    else:
        lines.append(f"schedule:   {status.schedule}")
        if status.next_slot is not None:
            lines.append(f"next slot:  {_when(status.next_slot, now, status.zone)}")
        if status.due_now is not None:
            due = _when(status.due_now, now, status.zone)
            lines.append(f"due now:    {due}: 'digest run --once' makes it")
    if status.last_issue is None:
        lines.append("last issue: none yet ('digest build' makes the first)")
    else:
        issue = status.last_issue
        lines.append(f"last issue: #{issue.number} {issue.date}  {issue.subject}")
        lines.append(f"            {_deliveries(issue.deliveries)}")
    by_status = ", ".join(f"{n} {s}" for s, n in sorted(status.readers.items()))
    if not by_status and status.listed:
        by_status = f"{status.listed} in digest.yaml (they join the book at the first send)"
    lines.append(f"readers:    {by_status or 'none'}")
    for source in status.sources:
        when = source.refreshed_at or "never refreshed"
        lines.append(f"source:     {source.key}: {when}; {source.total} excerpts")
        if source.error:
            lines.append(f"            last error: {source.error}")
    if status.inbox_configured or status.inbox is not None:
        read = status.inbox
        lines.append(
            "inbox:      never read"
            if read is None
            else f"inbox:      last read {read.read_at}: {read.messages} new, "
            f"{read.processed} processed, {read.needs_you} need you"
        )
    if status.needs_you:
        lines.append("needs you:")
        lines += [f"  - {item}" for item in status.needs_you]
    else:
        lines.append("needs you:  nothing")
    return lines


def status_json(status: Status) -> str:
    """The same as one JSON object (times in ISO 8601), for monitoring."""
    import json

    data = status._asdict()
    for key in ("next_slot", "due_now"):
        data[key] = data[key].isoformat() if data[key] else None
    data["last_issue"] = status.last_issue._asdict() if status.last_issue else None
    data["sources"] = [
        {"key": s.key, "kind": s.kind, "refreshed_at": s.refreshed_at, "total": s.total,
         "error": s.error}
        for s in status.sources
    ]  # fmt: skip
    data["inbox"] = status.inbox._asdict() if status.inbox else None
    return json.dumps(data, indent=2)
