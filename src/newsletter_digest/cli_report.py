"""The text `digest status` and `digest history` print, made from their use cases'
results (kept apart so the commands stay thin)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from newsletter_digest.cli_common import rel
from newsletter_digest.schedule import slots as scheduler

if TYPE_CHECKING:
    from newsletter_digest.app.history import History
    from newsletter_digest.app.status import Status
    from newsletter_digest.models import IssueRecord


def _when(moment: datetime, now: datetime, zone: str) -> str:
    span = scheduler.format_duration(abs(moment - now), coarse=True)
    when = scheduler.format_slot(moment, scheduler.zone(zone))
    return f"{when}, {'in ' + span if moment >= now else span + ' ago'}"


def _deliveries(counts: dict[str, int], pending: int) -> str:
    parts = [f"{counts.get('sent', 0)} sent", f"{counts.get('failed-permanent', 0)} refused"]
    parts += [f"{pending} not sent yet"] if pending else []
    parts += [f"{counts['left']} left before their turn"] if counts.get("left") else []
    return ", ".join(parts) if counts else "written to the outbox (not sent to readers)"


def _schedule_lines(status: Status, now: datetime) -> list[str]:
    if status.schedule is None:
        return ["schedule:   none (issues are made by 'digest build')"]
    lines = [f"schedule:   {status.schedule}"]
    if status.next_slot is not None:
        lines.append(f"next slot:  {_when(status.next_slot, now, status.zone)}")
    if status.due_now is not None:
        due = _when(status.due_now, now, status.zone)
        lines.append(f"due now:    {due}: 'digest run --once' makes it")
    return lines


def status_lines(status: Status, now: datetime) -> list[str]:
    """The screen `digest status` prints."""
    lines = [status.title, *_schedule_lines(status, now)]
    if status.last_issue is None:
        lines.append("last issue: none yet ('digest build' makes the first)")
    else:
        issue = status.last_issue
        lines.append(f"last issue: #{issue.number} {issue.date}  {issue.subject}")
        lines.append(f"            {_deliveries(issue.deliveries, issue.pending)}")
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

    data = {name: getattr(status, name) for name in status.__dataclass_fields__}
    for key in ("next_slot", "due_now"):
        data[key] = data[key].isoformat() if data[key] else None
    last = asdict(status.last_issue) if status.last_issue else None
    if last is not None:
        del last["pending"]  # the JSON keeps the counts by status, as it always had
    data["last_issue"] = last
    data["sources"] = [
        {"key": s.key, "kind": s.kind, "refreshed_at": s.refreshed_at, "total": s.total,
         "error": s.error}
        for s in status.sources
    ]  # fmt: skip
    data["inbox"] = status.inbox._asdict() if status.inbox else None
    data["needs_you"] = list(status.needs_you)
    return json.dumps(data, indent=2)


def _delivery_summary(counts: dict[str, int]) -> str:
    """'3 sent, 1 failed, 2 pending' from the delivery log's counts (and ', 1 left before
    their turn' when a reader unsubscribed during the send)."""
    failed = counts.get("failed-permanent", 0)
    pending = counts.get("pending", 0) + counts.get("failed-temporary", 0)
    left = f", {counts['left']} left before their turn" if counts.get("left") else ""
    return f"{counts.get('sent', 0)} sent, {failed} failed, {pending} pending{left}"


def _issue_lines(history: History, record: IssueRecord) -> Iterator[str]:
    """One issue in full: its files, excerpts and delivery log."""
    yield f"Issue #{record.number}"
    yield f"  date:       {record.date.isoformat()} (built {record.created_at})"
    yield f"  subject:    {record.subject}"
    yield f"  message-id: {record.message_id}"
    yield f"  files:      {rel(history.folders[0])}/"
    yield "  excerpts:"
    for pick, title in zip(record.picks, record.titles, strict=True):
        yield f"    - {title}  [{pick.excerpt_id}, cycle {pick.cycle + 1}]"
    if history.deliveries:
        yield f"  deliveries: {_delivery_summary(history.counts.get(record.number, {}))}"
        for delivery in history.deliveries:
            reply = f"  {delivery.last_reply}" if delivery.last_reply else ""
            yield (
                f"    {delivery.status:<16} {delivery.recipient}"
                f"  (attempts: {delivery.attempts}){reply}"
            )


def history_lines(history: History) -> Iterator[str]:
    """The issue list (or one issue in full) and the rotation's position."""
    if history.number is not None:
        yield from _issue_lines(history, history.records[0])
        return
    if not history.records:
        yield "No issues yet: run 'digest build' to make the first one."
    for record, folder in zip(history.records, history.folders, strict=True):
        sent = history.counts.get(record.number)
        tail = f"  [{_delivery_summary(sent)}]" if sent else ""
        yield f"#{record.number:<4} {record.date.isoformat()}  {record.subject}{tail}"
        for title in record.titles:
            yield f"        - {title}"
        yield f"        {rel(folder)}/"
    yield from history.standing
    if history.position is not None:
        cycle, shown, size = history.position
        left = size - shown
        yield (
            f"rotation: cycle {cycle + 1}, {shown} of {size} shown; {left} to go before any repeats"
            if left
            else f"rotation: cycle {cycle + 1} complete; the next issue starts a new cycle"
        )
