"""Engines for the state: SQLite, the embedded default, with its guarantees (WAL,
``synchronous=NORMAL``, a busy timeout, files private to the user, a write lock taken
when a write transaction starts). Everything here is SQLite's own: a dialect branch.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from functools import cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from newsletter_digest.files import private_file, private_folder
from newsletter_digest.state.database import emit_begin

_handed = threading.local()  # the sqlite3 connection the shared engine takes next


@cache
def _shared() -> Engine:
    """One engine for every SQLite state of the process (made once: an engine costs
    milliseconds, and tests open thousands of states); each connect takes the sqlite3
    connection :func:`_engine` hands it, and NullPool closes it when the store closes."""
    engine = create_engine("sqlite://", creator=lambda: _handed.conn, poolclass=NullPool)
    emit_begin(engine)
    return engine


def _engine(conn: sqlite3.Connection) -> Connection:
    """A Core connection over one open sqlite3 connection in the driver's autocommit mode
    (``isolation_level=None``): the store emits BEGIN itself (see :func:`emit_begin`)."""
    _handed.conn = conn
    try:
        return _shared().connect()
    except BaseException:
        conn.close()
        raise
    finally:
        del _handed.conn


def sqlite_file(path: Path, busy_timeout: float) -> Connection:
    """A writable state at ``path``: the folder 0700 and the file 0600 before SQLite opens
    it (its -wal and -shm files, which SQLite gives the database's mode, are 0600 too)."""
    private_folder(path.parent)
    private_file(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
    try:
        use_wal(conn, busy_timeout)
        # WAL with NORMAL: a commit survives the process being killed (-9 included); a
        # power cut may lose the last moments of commits, never corrupt the database.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error:
        conn.close()
        raise
    return _engine(conn)


def sqlite_readonly(path: Path, busy_timeout: float) -> Connection:
    """A state read and never written.

    Not mode=ro: a read-only connection to a WAL database leaves -wal/-shm files behind;
    a normal one with query_only removes them when it closes."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
    try:
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        conn.close()
        raise
    return _engine(conn)


def sqlite_memory(copy_of: Path | None = None) -> Connection:
    """An in-memory state: empty, or a copy of the database at ``copy_of`` (through
    SQLite's backup API) to be migrated and read without touching the file."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    if copy_of is not None:
        source = sqlite3.connect(copy_of)
        try:
            source.execute("PRAGMA query_only = ON")
            source.backup(conn)
        finally:
            source.close()
    return _engine(conn)


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
