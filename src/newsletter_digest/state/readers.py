"""The reader book's rows: one per mailbox, never deleted (the rules are in readers/).

Rows come back as tuples in :data:`COLUMNS` order; ``readers.book`` makes them Readers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.schema import CreateTable, DropTable

from newsletter_digest.state.dialect import Prepared, insert_ignore, insert_many, upsert
from newsletter_digest.state.tables import readers

SUPPRESSED = ("unsubscribed", "bounced", "complained")
_r = readers.c
COLUMNS = (
    _r.id,
    _r.address,
    _r.name,
    _r.status,
    _r.source,
    _r.listed,
    _r.consent_at,
    _r.created_at,
    _r.changed_at,
    _r.reason,
    _r.secret,
)

# Readers to add, staged in this connection's own temporary table: n is their order.
incoming = Table(
    "incoming",
    MetaData(),
    Column("n", Integer, primary_key=True),
    Column("address", Text),
    Column("key", Text),
    Column("name", Text),
    Column("status", Text),
    Column("consent_at", Text),
    Column("secret", Text),
    prefixes=["TEMPORARY"],
)
_i = incoming.c


# Built once: a send looks a reader up for every message (building a statement costs more
# than running it; running it through Core, several times what SQLite takes).
_BY_KEY = Prepared(select(*COLUMNS).where(_r.key == bindparam("b_key")))
_BY_ID = select(*COLUMNS).where(_r.id == bindparam("b_id"))


def by_key(conn: Connection, key: str) -> tuple[Any, ...] | None:
    """The reader with this mailbox key, if the book has one."""
    rows = _BY_KEY.run(conn, {"b_key": key})
    return rows[0] if rows else None


def by_id(conn: Connection, reader_id: int) -> tuple[Any, ...] | None:
    row = conn.execute(_BY_ID, {"b_id": reader_id}).first()
    return None if row is None else tuple(row)


def add(conn: Connection, values: Mapping[str, Any]) -> bool:
    """Add a reader unless their mailbox key is in the book; whether a row was added."""
    return conn.execute(insert_ignore(conn, readers).values(**values)).rowcount > 0


STAGED = ("address", "key", "name", "status", "consent_at", "secret")


def stage(conn: Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Put readers to add aside in the staging table (made on first use); each row's
    values in :data:`STAGED` order."""
    conn.execute(CreateTable(incoming, if_not_exists=True))
    values = list(rows)
    if values:  # (no rows to a Core INSERT would be one row of NULLs)
        insert_many(conn, incoming.insert(), STAGED, values)


def unstage(conn: Connection) -> None:
    conn.execute(DropTable(incoming, if_exists=True))


def staged(conn: Connection) -> int:
    """How many readers are staged (their last ``n``)."""
    return int(conn.execute(select(func.coalesce(func.max(_i.n), 0))).scalar_one())


def add_span(
    conn: Connection, span: tuple[int, int], source: str, reason: str, now: str
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Add the staged readers ``span`` (first, last n) as one by one: new, changed, kept.

    An address already in the book keeps its status, but an entry that says it
    unsubscribed, bounced or complained suppresses it (``reason``). Set-wise statements,
    so the book's checks run once per batch, not once per row."""
    in_span = _i.n.between(*span)
    last_id = conn.execute(select(func.coalesce(func.max(_r.id), 0))).scalar_one()
    columns = ["address", "key", "name", "status", "source", "consent_at", "created_at"]
    at = literal(now, Text)
    rows = select(
        _i.address, _i.key, _i.name, _i.status, literal(source, Text),
        func.coalesce(_i.consent_at, at), at, at, _i.secret,
    )  # fmt: skip
    conn.execute(
        insert_ignore(conn, readers).from_select(
            [*columns, "changed_at", "secret"], rows.where(in_span).order_by(_i.n)
        )
    )
    new = _by_status(conn, select(_r.status).where(_r.id > last_id))
    kept = _by_status(
        conn,
        select(_r.status)
        .join(incoming, _r.key == _i.key)
        .where(in_span, _i.status.not_in(SUPPRESSED), _r.status.in_(SUPPRESSED)),
    )
    # The first refusal of each reader in the batch, in file order.
    first = (
        select(
            _i.key,
            _i.status,
            func.row_number().over(partition_by=_i.key, order_by=_i.n).label("nth"),
        )
        .where(in_span, _i.status.in_(SUPPRESSED))
        .subquery()
    )
    changed = {}
    for status in SUPPRESSED:
        refused = select(first.c.key).where(first.c.nth == 1, first.c.status == status)
        result = conn.execute(
            update(readers)
            .where(_r.status.not_in(SUPPRESSED), _r.key.in_(refused))
            .values(status=status, reason=reason, changed_at=now)
        )
        if result.rowcount:
            changed[status] = int(result.rowcount)
    return new, changed, kept


def _by_status(conn: Connection, rows: Any) -> dict[str, int]:
    counted = rows.subquery()
    query = select(counted.c.status, func.count()).group_by(counted.c.status)
    return {str(s): int(n) for s, n in conn.execute(query)}


def set_status(conn: Connection, reader_id: int, status: str, reason: str, now: str) -> bool:
    """Change a reader's status; False if it was already so."""
    result = conn.execute(
        update(readers)
        .where(_r.id == reader_id, _r.status != status)
        .values(status=status, reason=reason[:500], changed_at=now)
    )
    return result.rowcount > 0


def unsubscribe(conn: Connection, reader_id: int, reason: str, now: str) -> bool:
    """Unsubscribed, unless already suppressed; whether the reader changed."""
    result = conn.execute(
        update(readers)
        .where(_r.id == reader_id, _r.status.in_(("active", "unconfirmed")))
        .values(status="unsubscribed", reason=reason[:500], changed_at=now)
    )
    return result.rowcount > 0


def confirm(conn: Connection, reader_id: int, now: str, secret: str) -> bool:
    """Active from now with a new secret, if waiting to be confirmed or unsubscribed."""
    result = conn.execute(
        update(readers)
        .where(_r.id == reader_id, _r.status.in_(("unconfirmed", "unsubscribed")))
        .values(
            status="active",
            reason="confirmed",
            consent_at=now,
            changed_at=now,
            secret=secret,
            listed=1,
        )
    )
    return result.rowcount > 0


def sync_config(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """The config's readers listed (new ones added active), the others no longer listed."""
    conn.execute(update(readers).where(_r.source == "config").values(listed=0))
    values = [{"status": "active", "source": "config", "listed": 1, **row} for row in rows]
    if values:
        conn.execute(upsert(conn, readers, [_r.key], {"listed": 1}), values)


def page(
    conn: Connection, after: int, statuses: tuple[str, ...], listed_only: bool, batch: int
) -> list[tuple[Any, ...]]:
    """Up to ``batch`` readers after id ``after`` in book order."""
    where = [_r.id > after]
    if statuses:
        where.append(_r.status.in_(statuses))
    if listed_only:
        where.append(_r.listed == 1)
    query = select(*COLUMNS).where(and_(*where)).order_by(_r.id).limit(batch)
    return [tuple(row) for row in conn.execute(query)]


def counts(conn: Connection) -> dict[str, int]:
    """How many readers are in each status."""
    query = select(_r.status, func.count()).group_by(_r.status)
    return {str(s): int(n) for s, n in conn.execute(query)}
