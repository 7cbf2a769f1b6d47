"""The state: one store of issues, picks, deliveries, slots, readers, sources and what
came back from the inbox, on SQLAlchemy Core (SQLite by default).

``open_state`` gives a :class:`State`; its methods are the only way the program reads or
writes the state (the SQL is in the repositories beside this module), one transaction per
step, and the schema is brought up to date (Alembic, see schema.py) when it opens.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from newsletter_digest.errors import StateError
from newsletter_digest.models import Delivery, IssueRecord, Pick, RenderedIssue, Slot, SlotRecord
from newsletter_digest.state import deliveries, engine, issues, schema, slots
from newsletter_digest.state.book import ReaderBook
from newsletter_digest.state.database import fail
from newsletter_digest.state.schema import SCHEMA_VERSION

__all__ = ["BUSY_TIMEOUT_S", "SCHEMA_VERSION", "UNFINISHED", "State", "open_state"]

UNFINISHED = ("pending", "failed-temporary")
BUSY_TIMEOUT_S = 30.0


class State(ReaderBook):
    """An open state database: the issues, picks, slots and delivery log read and written
    (readers, sources, welcomes and the inbox in :class:`ReaderBook`)."""

    def ping(self) -> None:
        """Reach the database (a health check); StateError if it cannot be read."""
        with self._unit() as conn:
            conn.execute(select(1))

    def history(self) -> list[tuple[Pick, ...]]:
        """Every issue's picks, oldest issue first, each in display order."""
        with self._unit() as conn:
            return issues.history(conn)

    def last_number(self) -> int:
        """The highest issue number recorded, 0 when there is none."""
        with self._unit() as conn:
            return issues.last_number(conn)

    def record_issue(self, record: IssueRecord) -> None:
        """Insert an issue and its picks; the caller holds :meth:`write_lock`."""
        with self._unit() as conn:
            issues.record(conn, record)

    def issues(self, number: int | None = None) -> list[IssueRecord]:
        """Recorded issues, oldest first (or just issue ``number``), with their picks."""
        with self._unit() as conn:
            return issues.recorded(conn, number)

    def record_bodies(self, number: int, rendered: RenderedIssue) -> None:
        """Keep the rendered issue (with personal-field markers) for sending it later."""
        with self._unit() as conn:
            issues.record_bodies(conn, number, rendered)

    def bodies(self, number: int) -> RenderedIssue | None:
        """The rendered issue kept by :meth:`record_bodies`, if any."""
        with self._unit() as conn:
            return issues.bodies(conn, number)

    def add_deliveries(self, number: int, entries: Iterable[tuple[str, str]], now: str) -> None:
        """Start the delivery log of an issue: (recipient, Message-ID) pairs, all pending.

        Recipients already in the log keep their row, so nothing sent is ever reset, and a
        mailbox listed twice (another spelling or display name) gets one row: the first.
        """
        with self.write_lock(), self._unit() as conn:
            deliveries.add(conn, number, entries, now)

    def deliveries(
        self, number: int, statuses: tuple[str, ...] = (), limit: int = -1
    ) -> list[Delivery]:
        """The delivery log of one issue (optionally only some statuses), in insert order."""
        with self._unit() as conn:
            return deliveries.listed(conn, number, statuses, limit)

    def iter_deliveries(
        self, number: int, statuses: tuple[str, ...], batch: int = 500
    ) -> Iterator[Delivery]:
        """Stream the delivery log in batches, so 100,000 recipients never sit in memory."""
        after = None
        while True:
            with self._unit() as conn:
                rows, after = deliveries.page(conn, number, statuses, after, batch)
            if not rows:
                return
            yield from rows

    def count_deliveries(self, number: int, statuses: tuple[str, ...] = ()) -> int:
        """How many deliveries of an issue are in these statuses (all when none given)."""
        with self._unit() as conn:
            return deliveries.count(conn, number, statuses)

    def mark(
        self, number: int, recipient: str, status: str, reply: str, now: str, *, attempts: int
    ) -> None:
        """Record one delivery attempt's outcome at once (its own transaction)."""
        with self._unit() as conn:
            deliveries.mark(conn, number, recipient, status, reply, now, attempts)

    def retry_failed(self, number: int, now: str) -> int:
        """Put an issue's permanently failed deliveries back in the queue; how many."""
        with self.write_lock(), self._unit() as conn:
            return deliveries.retry_failed(conn, number, now)

    def delivery_counts(self) -> dict[int, dict[str, int]]:
        """Per issue, how many deliveries are in each status."""
        with self._unit() as conn:
            return deliveries.counts(conn)

    def delivery_recipients(self, *, token: str = "", message_id: str = "") -> list[str]:
        """Who the delivery with this VERP token (or this Message-ID) went to."""
        with self._unit() as conn:
            return deliveries.recipients(conn, token=token, message_id=message_id)

    def last_slot(self) -> SlotRecord | None:
        """The latest slot recorded (made or skipped), or None before the first one."""
        return next(iter(self.slots(limit=1)), None)

    def slots(self, limit: int = -1) -> list[SlotRecord]:
        """Recorded slots, latest first."""
        with self._unit() as conn:
            return slots.recorded(conn, limit)

    def record_slot(self, slot: Slot, issue_number: int | None, now: str) -> None:
        """Record a slot as made (with its issue) or skipped; the caller holds the lock."""
        with self._unit() as conn:
            slots.record(conn, slot, issue_number, now)


def open_state(
    path: Path, *, readonly: bool = False, busy_timeout: float = BUSY_TIMEOUT_S
) -> State:
    """Open (creating it when writable) the state database at ``path``.

    ``readonly`` never creates or changes anything: a missing database reads as empty, which
    is what ``build --dry-run`` and the preview need. ``busy_timeout``: how long a write
    waits for another process's write lock before it fails with StateError.
    """
    try:
        if readonly:
            return _open_readonly(path, busy_timeout)
        return _brought_up(State(engine.sqlite_file(path, busy_timeout), path), path)
    except OSError as e:
        raise StateError(
            f"cannot create the state folder {path.parent}: {e}",
            "set 'state' in digest.yaml to a writable path",
        ) from e
    except (sqlite3.Error, SQLAlchemyError) as e:
        raise fail(path, e) from e


def _open_readonly(path: Path, busy_timeout: float) -> State:
    if not path.exists():
        return _brought_up(State(engine.sqlite_memory(), None), ":memory:")
    state = State(engine.sqlite_readonly(path, busy_timeout), path)
    try:
        with state._unit() as conn:
            if schema.current(conn):
                return state
            version = schema.version(conn, path)
    except BaseException:
        state.close()
        raise
    state.close()
    if version > SCHEMA_VERSION:
        raise schema.too_new(path, version)
    # An old schema is migrated by the next writing command; read it migrated.
    return _brought_up(State(engine.sqlite_memory(path), None), path)


def _brought_up(state: State, where: Path | str) -> State:
    """``state`` with its schema made or upgraded (under the write lock), or closed."""
    try:
        _upgrade(state, where)
    except BaseException:
        state.close()
        raise
    return state


def _upgrade(state: State, where: Path | str) -> None:
    with state._unit() as conn:
        if schema.current(conn):
            return  # the usual case, read without taking the lock
    # Holding the lock, and only if still behind once it is ours: processes opening a new
    # database at once take turns, and none re-applies what another made while it waited.
    with state.write_lock(), state._unit() as conn:
        schema.upgrade(conn, where)
