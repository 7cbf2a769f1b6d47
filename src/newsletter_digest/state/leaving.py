"""Unsubscribes waiting for the reader book: a small SQLite file of its own beside the state.

``digest build`` holds the state's write lock for the whole build, and an import or a
restore can hold it longer than any client waits. A one-click unsubscribe that cannot reach
the book in time is written here instead (its own file, so nothing else ever holds its
lock for long), committed before the server answers 200; whoever next holds the book's
lock (the server, a send) moves it into the book. A send reads this file too, so a reader
waiting here is never mailed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from newsletter_digest.errors import StateError
from newsletter_digest.files import private_file, private_folder

SCHEMA = """
CREATE TABLE IF NOT EXISTS leaving (
    reader_id INTEGER PRIMARY KEY,
    reason    TEXT NOT NULL,
    asked_at  TEXT NOT NULL
)
"""


def queue_path(state_path: Path) -> Path:
    """Where the queue of a state database lives: ``state.db`` → ``state.db.leaving``."""
    return state_path.with_name(f"{state_path.name}.leaving")


class LeavingQueue:
    """The queue of one state database; opened per use and closed with ``with``."""

    def __init__(self, state_path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = queue_path(state_path)
        try:
            private_folder(self.path.parent)  # reader ids: private, as the state is
            private_file(self.path)
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
            self._conn.execute("PRAGMA synchronous = FULL")  # a 200 was given on its strength
            self._conn.execute(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StateError(
                f"cannot open the unsubscribe queue {self.path}: {e}",
                "check that the state folder is writable",
            ) from e

    def __enter__(self) -> LeavingQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()

    def add(self, reader_id: int, reason: str, asked_at: str) -> None:
        """Keep one reader's unsubscribe, committed to disk before this returns."""
        self._run(
            "INSERT OR IGNORE INTO leaving (reader_id, reason, asked_at) VALUES (?, ?, ?)",
            [(reader_id, reason[:500], asked_at)],
        )

    def waiting(self) -> list[tuple[int, str, str]]:
        """Every unsubscribe not yet in the book: (reader id, reason, when asked)."""
        rows = self._run("SELECT reader_id, reason, asked_at FROM leaving ORDER BY asked_at")
        return [(int(r), str(why), str(at)) for r, why, at in rows]

    def holds(self, reader_id: int) -> bool:
        """Whether this reader asked to leave and the book does not know it yet."""
        return bool(self._run("SELECT 1 FROM leaving WHERE reader_id = ?", [(reader_id,)]))

    def remove(self, reader_ids: list[int]) -> None:
        """Forget unsubscribes once the book has them."""
        self._run("DELETE FROM leaving WHERE reader_id = ?", [(r,) for r in reader_ids])

    def _run(self, sql: str, rows: list[tuple[object, ...]] | None = None) -> list[tuple[Any, ...]]:
        """One statement (for each of ``rows``, in one transaction); StateError on failure."""
        try:
            if rows is None or len(rows) == 1:
                return list(self._conn.execute(sql, rows[0] if rows else ()))
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(sql, rows)
            return []
        except sqlite3.Error as e:
            raise StateError(
                f"the unsubscribe queue {self.path}: {e}",
                "check that the state folder is writable and not full",
            ) from e
