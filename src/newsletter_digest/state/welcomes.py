"""Welcome messages: a claim per reader before sending, so nobody gets two."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from newsletter_digest.state.dialect import insert_ignore
from newsletter_digest.state.tables import welcomes

_w = welcomes.c


def claim(conn: Connection, reader_id: int, message_id: str, now: str) -> bool:
    """Claim the reader's welcome; False if it was claimed (or sent) before."""
    result = conn.execute(
        insert_ignore(conn, welcomes).values(
            reader_id=reader_id, message_id=message_id, claimed_at=now
        )
    )
    return result.rowcount > 0


def sent(conn: Connection, reader_id: int, reply: str, now: str) -> None:
    """The transport took the welcome."""
    conn.execute(
        update(welcomes).where(_w.reader_id == reader_id).values(sent_at=now, reply=reply[:500])
    )


def release(conn: Connection, reader_id: int) -> None:
    """The transport did not take it: drop the claim, so a later confirmation tries again."""
    conn.execute(delete(welcomes).where(_w.reader_id == reader_id, _w.sent_at.is_(None)))


def sent_at(conn: Connection, reader_id: int) -> str | None:
    """When the reader's welcome went out, if it did."""
    value = conn.execute(select(_w.sent_at).where(_w.reader_id == reader_id)).scalar()
    return None if value is None else str(value)
