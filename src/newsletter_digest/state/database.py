"""The state database's connection: SQLAlchemy Core over one driver connection, its
transactions (a write takes the write lock when it starts), and errors as StateErrors.

SQLite specifics (PRAGMAs, the driver's own transaction handling, WAL) sit in
``state/engine.py``; this module is what every dialect shares.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, Self

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from newsletter_digest.errors import StateError

# How a transaction starts, kept in the connection's info while one is opened: the begin
# event below emits it. None: no BEGIN (SQLite's autocommit, one statement a transaction).
_BEGIN = "digest_begin"


def refuse_downgrade() -> NoReturn:
    """Every revision's downgrade: a state is never taken back to an older schema, because
    the data a revision moved cannot all be moved back; the backup taken before is the way."""
    raise StateError(
        "the state is never downgraded to an older schema",
        "restore the backup made before the upgrade ('digest state restore FILE')",
    )


def fail(path: Path | str, e: Exception) -> StateError:
    """A database error as the user sees it: the file, the database's words, what to try."""
    words = e.orig if isinstance(e, DBAPIError) else e
    return StateError(
        f"state database {path}: {words}",
        "check the file is a digest state database and its folder is writable; "
        "if another digest command is running, wait for it to finish",
    )


def emit_begin(engine: Engine) -> None:
    """Let each transaction start as the store asks (the pysqlite recipe: the driver's own
    BEGIN is off, so ours is the one that runs, and a write lock is taken at the start)."""

    @event.listens_for(engine, "begin")
    def begin(conn: Connection) -> None:
        statement = conn.info.get(_BEGIN)
        if statement:
            conn.exec_driver_sql(statement)


class Database:
    """An open state database; use as a context manager so it is always closed."""

    def __init__(self, conn: Connection, path: Path | None) -> None:
        self._conn = conn
        self.path = path

    @property
    def _where(self) -> Path | str:
        return self.path or ":memory:"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        self._conn.close()

    @property
    def dialect(self) -> str:
        """The database's kind: ``sqlite`` (the embedded default) or another dialect."""
        return self._conn.dialect.name

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the database's write lock for a whole step; commit only if it succeeds.

        Two builds at once then make two consecutive issues instead of one number twice.
        """
        begin = "BEGIN IMMEDIATE" if self.dialect == "sqlite" else None
        with self._transaction(begin):
            yield

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """One transaction that takes no lock until it writes: for many writes to this
        connection's temporary tables (one commit, not one per row)."""
        with self._transaction("BEGIN" if self.dialect == "sqlite" else None):
            yield

    @contextmanager
    def _transaction(self, begin: str | None) -> Iterator[None]:
        self._conn.info[_BEGIN] = begin
        try:
            transaction = self._conn.begin()
        except (SQLAlchemyError, sqlite3.Error) as e:
            raise fail(self._where, e) from e
        finally:
            self._conn.info[_BEGIN] = None
        try:
            yield
        except BaseException:
            transaction.rollback()
            raise
        try:
            transaction.commit()
        except (SQLAlchemyError, sqlite3.Error) as e:
            raise fail(self._where, e) from e

    @contextmanager
    def _unit(self) -> Iterator[Connection]:
        """The connection for one repository call: inside a write lock, part of its
        transaction; outside, each statement its own (as SQLite's autocommit does)."""
        inside = self._conn.in_transaction()
        try:
            yield self._conn
            if not inside:
                self._conn.commit()
        except (SQLAlchemyError, sqlite3.Error) as e:
            if not inside:
                self._conn.rollback()
            raise fail(self._where, e) from e
        except BaseException:
            if not inside:
                self._conn.rollback()
            raise
