"""Scheduled slots: each made (with its issue) or skipped, so a run never makes one twice."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select

from newsletter_digest.models import Slot, SlotRecord
from newsletter_digest.state.tables import slots


def utc_key(moment: datetime) -> str:
    """A slot as stored: ``2026-11-30T08:00:00Z``, fixed width so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_utc_key(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def recorded(conn: Connection, limit: int) -> list[SlotRecord]:
    """Recorded slots, latest first (``limit`` below 0: all)."""
    s = slots.c
    query = select(s.slot_utc, s.timezone, s.status, s.issue_number, s.updated_at).order_by(
        s.slot_utc.desc()
    )
    if limit >= 0:
        query = query.limit(limit)
    return [
        SlotRecord(Slot(from_utc_key(row[0]), row[1]), row[2], row[3], row[4])
        for row in conn.execute(query)
    ]


def record(conn: Connection, slot: Slot, issue_number: int | None, now: str) -> None:
    """Record a slot as made (with its issue) or skipped."""
    conn.execute(
        slots.insert().values(
            slot_utc=utc_key(slot.at),
            timezone=slot.timezone,
            status="skipped" if issue_number is None else "made",
            issue_number=issue_number,
            updated_at=now,
        )
    )
