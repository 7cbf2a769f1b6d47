"""Sources: what each refresh found, and what makes the next one cheap (a feed's
validators for a conditional GET; a file's size and mtime)."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from newsletter_digest.state.dialect import excluded, upsert
from newsletter_digest.state.tables import sources

_s = sources.c


class SourceRow(NamedTuple):
    """A source as the state keeps it."""

    etag: str | None
    last_modified: str | None
    file_stamp: str | None
    refreshed_at: str | None
    added: int
    total: int
    error: str
    notes: str
    skipped: int


def get(conn: Connection, key: str) -> SourceRow | None:
    """What the state knows of the source ``key``, if anything."""
    row = conn.execute(
        select(
            _s.etag,
            _s.last_modified,
            _s.file_stamp,
            _s.refreshed_at,
            _s.added,
            _s.total,
            _s.error,
            _s.notes,
            _s.skipped,
        ).where(_s.key == key)
    ).first()
    return None if row is None else SourceRow(*row)


def record_import(
    conn: Connection, key: str, etag: str | None, last_modified: str | None, added: int
) -> None:
    """A one-off import of the project's source: its validators, and ``added`` more."""
    new = excluded(conn, sources)
    updates = {"etag": new.etag, "last_modified": new.last_modified, "total": _s.total + new.total}
    values = {"key": key, "etag": etag, "last_modified": last_modified, "total": added}
    conn.execute(upsert(conn, sources, [_s.key], updates).values(**values))


def record_error(conn: Connection, key: str, when: str, error: str) -> None:
    """A refresh of the source failed: when, and why (what it found before stays)."""
    new = excluded(conn, sources)
    updates = {"refreshed_at": new.refreshed_at, "error": new.error}
    values = {"key": key, "refreshed_at": when, "error": error[:500]}
    conn.execute(upsert(conn, sources, [_s.key], updates).values(**values))


def record(conn: Connection, key: str, row: SourceRow) -> None:
    """A refresh of the source read it (or found it unchanged): all it noted."""
    values: dict[str, Any] = {"key": key, **row._asdict(), "error": ""}
    new = excluded(conn, sources)
    updates = {name: getattr(new, name) for name in SourceRow._fields if name != "error"}
    updates["error"] = new.error
    conn.execute(upsert(conn, sources, [_s.key], updates).values(**values))
