"""The state database's connection: transactions, raw SQL with its errors as StateErrors,
and the machinery that applies migrations (the migrations themselves are in store.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from newsletter_digest.errors import StateError

# A migration is SQL, or a function of the connection for what SQL cannot say; both run in
# one transaction that holds the write lock.
Migration = str | Callable[[sqlite3.Connection], None]


def fail(path: Path | str, e: sqlite3.Error) -> StateError:
    """A database error as the user sees it: the file, SQLite's words, what to try."""
    return StateError(
        f"state database {path}: {e}",
        "check the file is a digest state database and its folder is writable; "
        "if another digest command is running, wait for it to finish",
    )


class Database:
    """An open SQLite connection; use as a context manager so it is always closed."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self._conn = conn
        self.path = path

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        self._conn.close()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the database's write lock for a whole step; commit only if it succeeds.

        Two builds at once then make two consecutive issues instead of one number twice.
        """
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise fail(self.path or ":memory:", e) from e
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        else:
            try:
                self._conn.commit()
            except sqlite3.Error as e:
                raise fail(self.path or ":memory:", e) from e

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """One transaction that takes no lock until it touches the database: for many
        writes to this connection's temporary tables (one commit, not one per row)."""
        self.execute("BEGIN DEFERRED")
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        self.execute("COMMIT")

    def execute(self, sql: str, args: tuple[object, ...] = ()) -> int:
        """Run one statement (its own transaction unless inside write_lock); rows changed."""
        try:
            return int(self._conn.execute(sql, args).rowcount)
        except sqlite3.Error as e:
            raise fail(self.path or ":memory:", e) from e

    def executemany(self, sql: str, rows: Iterable[tuple[object, ...]]) -> int:
        """Run one statement for many rows (inside write_lock: one transaction); rows changed."""
        try:
            return int(self._conn.executemany(sql, rows).rowcount)
        except sqlite3.Error as e:
            raise fail(self.path or ":memory:", e) from e

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query."""
        try:
            return list(self._conn.execute(sql, args))
        except sqlite3.Error as e:
            raise fail(self.path or ":memory:", e) from e


def apply_migrations(
    conn: sqlite3.Connection, migrations: tuple[Migration, ...], path: Path | str
) -> None:
    """Bring the schema up to ``len(migrations)``, one migration a transaction; refuse a
    database a later release wrote."""
    schema_version = len(migrations)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > schema_version:
        raise StateError(
            f"state database {path} has schema version {version}; "
            f"this digest knows up to {schema_version}",
            "upgrade newsletter-digest to the version that wrote this database",
        )
    for target in range(version + 1, schema_version + 1):
        # Each migration in its own transaction, holding the write lock, and only if the
        # version is still below it once the lock is ours: two processes opening a new
        # database take turns, and one never re-applies (or undoes the version of) a
        # migration the other made while it waited; not every migration fails when re-run.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < target:
                _apply(conn, migrations[target - 1])
                conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def use_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch to WAL; while several processes open a new database at once, SQLite may
    refuse the switch at once (no busy handler on that path): try again until the timeout."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    """One migration inside the caller's transaction: SQL statement by statement
    (executescript would commit), or a function written in Python."""
    if not isinstance(migration, str):
        migration(conn)
        return
    for statement in _statements(migration):
        conn.execute(statement)


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a migration, one at a time (executescript would commit)."""
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                yield buffer
            buffer = ""
