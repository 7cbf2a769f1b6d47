"""The delivery log: one row per issue and reader, from pending to sent (or why not)."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from secrets import token_hex
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select, update

from newsletter_digest.addresses import mailbox_key
from newsletter_digest.models import Delivery
from newsletter_digest.state.dialect import Prepared, insert_ignore, insert_many, insert_order
from newsletter_digest.state.tables import deliveries

_BATCH = 1000
_d = deliveries.c
_ADDED = ("issue_number", "recipient", "address", "status", "message_id", "updated_at", "token")
_COLUMNS = (
    _d.issue_number,
    _d.recipient,
    _d.status,
    _d.attempts,
    _d.last_reply,
    _d.message_id,
    _d.updated_at,
    _d.token,
)


def add(conn: Connection, number: int, entries: Iterable[tuple[str, str]], now: str) -> None:
    """Start the delivery log of an issue: (recipient, Message-ID) pairs, all pending.

    Recipients already in the log keep their row, so nothing sent is ever reset, and a
    mailbox listed twice (another spelling or display name) gets one row: the first.
    """
    statement = insert_ignore(conn, deliveries)
    pending = iter(entries)
    # In batches, so 100,000 recipients never sit in memory at once.
    while batch := list(islice(pending, _BATCH)):
        rows = [
            (number, recipient, mailbox_key(recipient), "pending", message_id, now, token_hex(8))
            for recipient, message_id in batch
        ]
        insert_many(conn, statement, _ADDED, rows)


def _of(number: int, statuses: tuple[str, ...]) -> list[Any]:
    where = [_d.issue_number == number]
    if statuses:
        where.append(_d.status.in_(statuses))
    return where


def listed(conn: Connection, number: int, statuses: tuple[str, ...], limit: int) -> list[Delivery]:
    """The delivery log of one issue (optionally only some statuses), in insert order."""
    query: Select[Any] = (
        select(*_COLUMNS).where(*_of(number, statuses)).order_by(insert_order(conn, deliveries))
    )
    if limit >= 0:
        query = query.limit(limit)
    return [Delivery(*row) for row in conn.execute(query)]


def page(
    conn: Connection, number: int, statuses: tuple[str, ...], after: Any, batch: int
) -> tuple[list[Delivery], Any]:
    """One batch of the log after position ``after`` (None: from the start), and the
    position of its last row, so 100,000 recipients never sit in memory at once."""
    order = insert_order(conn, deliveries)
    query = select(order, *_COLUMNS).where(*_of(number, statuses))
    if after is not None:
        query = query.where(order > after)
    rows = conn.execute(query.order_by(order).limit(batch)).all()
    return [Delivery(*row[1:]) for row in rows], (rows[-1][0] if rows else after)


def count(conn: Connection, number: int, statuses: tuple[str, ...]) -> int:
    """How many deliveries of an issue are in these statuses (all when none given)."""
    query = select(func.count()).select_from(deliveries).where(*_of(number, statuses))
    return int(conn.execute(query).scalar_one())


# Compiled once: a send marks every message (building and running a statement through
# Core costs several times what SQLite takes to run it).
_MARK = Prepared(
    update(deliveries)
    .where(
        _d.issue_number == bindparam("b_number"),
        _d.recipient == bindparam("b_recipient"),
        _d.status != "sent",
    )
    .values(
        status=bindparam("b_status"),
        attempts=_d.attempts + bindparam("b_attempts"),
        last_reply=bindparam("b_reply"),
        updated_at=bindparam("b_now"),
    )
)


def mark(
    conn: Connection, number: int, recipient: str, status: str, reply: str, now: str, attempts: int
) -> None:
    """Record one delivery attempt's outcome (a sent delivery stays sent)."""
    _MARK.run(
        conn,
        {
            "b_number": number,
            "b_recipient": recipient,
            "b_status": status,
            "b_attempts": attempts,
            "b_reply": reply[:500],
            "b_now": now,
        },
    )


def retry_failed(conn: Connection, number: int, now: str) -> int:
    """Put an issue's permanently failed deliveries back in the queue; how many."""
    result = conn.execute(
        update(deliveries)
        .where(_d.issue_number == number, _d.status == "failed-permanent")
        .values(status="pending", updated_at=now)
    )
    return int(result.rowcount)


def counts(conn: Connection) -> dict[int, dict[str, int]]:
    """Per issue, how many deliveries are in each status."""
    found: dict[int, dict[str, int]] = {}
    for number, status, n in conn.execute(
        select(_d.issue_number, _d.status, func.count()).group_by(_d.issue_number, _d.status)
    ):
        found.setdefault(int(number), {})[str(status)] = int(n)
    return found


def recipients(conn: Connection, *, token: str = "", message_id: str = "") -> list[str]:
    """Who the delivery with this VERP token, or this Message-ID, went to."""
    where = _d.token == token if token else _d.message_id == message_id
    return [str(r) for r in conn.execute(select(_d.recipient).where(where)).scalars()]
