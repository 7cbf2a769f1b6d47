"""What came back from the inbox: messages acted on, temporary bounces by day, and the
last read of the inbox (one row)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from newsletter_digest.state.dialect import insert_ignore, upsert
from newsletter_digest.state.tables import inbox_reads, inbox_seen, soft_bounces


def seen(conn: Connection, key: str) -> bool:
    """Whether the inbox message with this key was processed before."""
    found = conn.execute(select(inbox_seen.c.key).where(inbox_seen.c.key == key)).first()
    return found is not None


def mark_seen(conn: Connection, key: str, outcome: str, processed_at: str) -> None:
    """Record an inbox message as processed, with what was done."""
    conn.execute(
        inbox_seen.insert().values(key=key, outcome=outcome[:500], processed_at=processed_at)
    )


def soft_bounce(conn: Connection, reader_id: int, day: str, reply: str) -> int:
    """Note a temporary failure of the reader's on ``day`` (one a day); on how many
    different days they had one."""
    conn.execute(
        insert_ignore(conn, soft_bounces).values(reader_id=reader_id, day=day, reply=reply[:500])
    )
    query = select(func.count()).select_from(soft_bounces)
    return int(conn.execute(query.where(soft_bounces.c.reader_id == reader_id)).scalar_one())


def record_read(conn: Connection, read: tuple[str, int, int, int]) -> None:
    """Keep ``read`` (when, messages, processed, needs you) as the inbox's last read."""
    values: dict[str, Any] = dict(
        zip(("read_at", "messages", "processed", "needs_you"), read, strict=True)
    )
    conn.execute(upsert(conn, inbox_reads, [inbox_reads.c.id], values).values(id=1, **values))


def last_read(conn: Connection) -> tuple[str, int, int, int] | None:
    """The last read recorded, or None before the first."""
    r = inbox_reads.c
    row = conn.execute(select(r.read_at, r.messages, r.processed, r.needs_you)).first()
    return None if row is None else (str(row[0]), int(row[1]), int(row[2]), int(row[3]))
