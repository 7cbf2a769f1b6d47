"""`digest state backup` and `restore`: a consistent copy of a live state database, and back.

SQLite's online backup API copies the database page by page inside one read transaction,
so the copy is consistent even while `digest serve` records unsubscribes and a send marks
deliveries (WAL lets them go on writing meanwhile). The link-signing secret travels inside
the copy, so a restored newsletter's old unsubscribe links keep working.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from newsletter_digest.errors import StateError
from newsletter_digest.state.store import BUSY_TIMEOUT_S, SCHEMA_VERSION, open_state

_META = "digest_backup"  # a table only the backup file has: what restore needs besides the data
_REQUIRED_TABLES = {"issues", "picks"}  # there from the first schema on


class BackupInfo(NamedTuple):
    """What a backup holds, for the CLI to report."""

    path: Path
    schema: int
    issues: int
    readers: int
    with_secret: bool


def _secret_path(state_path: Path) -> Path:
    return state_path.parent / "secret"  # where readers.tokens keeps the signing key


def backup(state_path: Path, target: Path, *, now: datetime | None = None) -> BackupInfo:
    """Copy the state at ``state_path`` to ``target`` (mode 0600), consistent while others
    write; the copy is written under a temporary name and renamed, so ``target`` is never
    half a database."""
    if not state_path.exists():
        raise StateError(
            f"there is no state database at {state_path} to back up",
            "check 'state' in digest.yaml (or --config); a new project has nothing to back up",
        )
    if target.exists():
        raise StateError(
            f"{target} exists already; a backup never overwrites a file",
            "name a new file, e.g. with the date: digest state backup state-$(date +%F).db",
        )
    temp = target.with_name(f".{target.name}.partial")
    try:
        temp.unlink(missing_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        source = sqlite3.connect(state_path, timeout=BUSY_TIMEOUT_S)
        copy = sqlite3.connect(temp, isolation_level=None)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            _write_meta(copy, state_path, now or datetime.now(UTC))
            info = _inspect(copy, target)
        finally:
            copy.close()
            source.close()
        _fsync(temp)
        temp.replace(target)
        _fsync(target.parent)
    except sqlite3.Error as e:
        temp.unlink(missing_ok=True)
        raise StateError(
            f"backing up {state_path} failed: {e}",
            "check there is room where the backup goes and that the state is readable",
        ) from e
    except OSError as e:
        temp.unlink(missing_ok=True)
        raise StateError(
            f"cannot write the backup {target}: {e.strerror or e}",
            "name a file in a folder you can write to",
        ) from e
    return info


def _write_meta(copy: sqlite3.Connection, state_path: Path, now: datetime) -> None:
    secret_file = _secret_path(state_path)
    secret = secret_file.read_text().strip() if secret_file.exists() else ""
    copy.executescript(f"CREATE TABLE {_META} (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
    copy.executemany(
        f"INSERT INTO {_META} (key, value) VALUES (?, ?)",
        [("created_at", now.isoformat(timespec="seconds")), ("secret", secret)],
    )


def _inspect(conn: sqlite3.Connection, path: Path) -> BackupInfo:
    """Check ``conn`` is a whole state database this release can read, and sum it up."""
    try:
        ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as e:
        raise StateError(
            f"{path} is not a digest state database: {e}",
            "name a file that 'digest state backup' wrote",
        ) from e
    if ok != "ok" or not tables >= _REQUIRED_TABLES:
        why = ok if ok != "ok" else "tables missing"
        raise StateError(
            f"{path} is not a whole digest state database ({why})",
            "name a file that 'digest state backup' wrote; an older backup may still be whole",
        )
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{path} has state schema version {version}; this digest reads up to {SCHEMA_VERSION}",
            "restore it with the newsletter-digest release that made it, or a newer one",
        )
    secret = _META in tables and bool(
        conn.execute(f"SELECT value FROM {_META} WHERE key = 'secret'").fetchone()
    )
    issues = int(conn.execute("SELECT COUNT(*) FROM issues").fetchone()[0])
    readers = (
        int(conn.execute("SELECT COUNT(*) FROM readers").fetchone()[0])
        if "readers" in tables
        else 0
    )
    return BackupInfo(path, version, issues, readers, secret)


def restore(backup_path: Path, state_path: Path, *, force: bool = False) -> BackupInfo:
    """Replace the state at ``state_path`` with the backup's content.

    The backup is checked first (a whole state database, a schema this release reads), then
    copied into the live database through SQLite's backup API, in one locked step: a
    running `digest serve` sees the restored state with its next request. A state that
    holds issues or readers is replaced only with ``force``, after a copy of it is kept
    beside it."""
    if not backup_path.is_file():
        raise StateError(f"there is no backup file {backup_path}", "name the file to restore")
    source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
    try:
        info = _inspect(source, backup_path)
        secret_row = (
            source.execute(f"SELECT value FROM {_META} WHERE key = 'secret'").fetchone()
            if info.with_secret
            else None
        )
        _guard(state_path, force)
        with open_state(state_path) as live:  # creates it (0600) and takes it to this schema
            del live
        target = sqlite3.connect(state_path, timeout=BUSY_TIMEOUT_S)
        try:
            source.backup(target)
            target.execute(f"DROP TABLE IF EXISTS {_META}")
            target.commit()
        finally:
            target.close()
    except sqlite3.Error as e:
        raise StateError(
            f"restoring {backup_path} into {state_path} failed: {e}",
            "stop 'digest run' and 'digest send' and try again; the state is as it was",
        ) from e
    finally:
        source.close()
    with open_state(state_path):  # an older backup's schema is migrated here
        pass
    if secret_row and secret_row[0]:
        _restore_secret(state_path, secret_row[0])
    return info


def _guard(state_path: Path, force: bool) -> None:
    """Refuse to replace a state that holds a newsletter, unless forced; then keep a copy."""
    if not state_path.exists():
        return
    with open_state(state_path) as live:
        held = live.last_number() or sum(live.reader_counts().values())
    if not held:
        return
    if not force:
        raise StateError(
            f"{state_path} holds issues or readers; restoring would replace them",
            "add --force to replace it (a copy of it is kept beside it first)",
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup(state_path, state_path.with_name(f"{state_path.name}.before-restore-{stamp}"))


def _restore_secret(state_path: Path, secret: str) -> None:
    path = _secret_path(state_path)
    temp = path.with_name(".secret.partial")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
