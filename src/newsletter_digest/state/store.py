"""SQLite store of issues and their picks: the rotation's memory.

One transaction per step, WAL journal, and a schema version in ``PRAGMA user_version`` so
later releases can migrate old databases in place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from secrets import token_hex

from newsletter_digest.addresses import mailbox_key
from newsletter_digest.errors import StateError
from newsletter_digest.files import private_file, private_folder
from newsletter_digest.models import (
    Delivery,
    IssueRecord,
    Pick,
    RenderedIssue,
    Slot,
    SlotRecord,
)
from newsletter_digest.state.database import Database, Migration, apply_migrations, fail, use_wal
from newsletter_digest.state.rekey import rekey_readers

# Each entry moves the schema from version i to i + 1; never edit one that has shipped. An
# entry is SQL, or a function of the connection for what SQL cannot say; both run in one
# transaction that holds the write lock.
MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE issues (
        number      INTEGER PRIMARY KEY,
        issue_date  TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        subject     TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        folder      TEXT NOT NULL
    );
    CREATE TABLE picks (
        issue_number INTEGER NOT NULL REFERENCES issues(number) ON DELETE CASCADE,
        position     INTEGER NOT NULL,
        excerpt_id   TEXT NOT NULL,
        cycle        INTEGER NOT NULL,
        title        TEXT NOT NULL,
        PRIMARY KEY (issue_number, position)
    );
    """,
    """
    CREATE TABLE issue_bodies (
        issue_number INTEGER PRIMARY KEY REFERENCES issues(number) ON DELETE CASCADE,
        subject      TEXT NOT NULL,
        preheader    TEXT NOT NULL,
        html         TEXT NOT NULL,
        text         TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        issue_number INTEGER NOT NULL REFERENCES issues(number) ON DELETE CASCADE,
        recipient    TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN
                         ('pending', 'sent', 'failed-permanent', 'failed-temporary')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_reply   TEXT NOT NULL DEFAULT '',
        message_id   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (issue_number, recipient)
    );
    CREATE INDEX deliveries_status ON deliveries(issue_number, status);
    """,
    """
    CREATE TABLE slots (
        slot_utc     TEXT PRIMARY KEY,
        timezone     TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('made', 'skipped')),
        issue_number INTEGER UNIQUE REFERENCES issues(number),
        updated_at   TEXT NOT NULL,
        CHECK ((status = 'made') = (issue_number IS NOT NULL))
    );
    """,
    # One delivery per mailbox: "Bob <bob@example.org>" and "BOB@example.org" are one reader.
    """
    ALTER TABLE deliveries ADD COLUMN address TEXT;
    CREATE UNIQUE INDEX deliveries_address ON deliveries(issue_number, address);
    """,
    # An opaque token per delivery: VERP envelope senders (bounces+TOKEN@domain) name it,
    # so a bounce leads back to its delivery without carrying the address in clear.
    """
    ALTER TABLE deliveries ADD COLUMN token TEXT;
    UPDATE deliveries SET token = lower(hex(randomblob(8)));
    CREATE UNIQUE INDEX deliveries_token ON deliveries(token);
    """,
    # Readers: who gets the digest. A row is never deleted: an unsubscribed, bounced or
    # complained address stays suppressed, whatever later imports or config lists say.
    # 'listed' is whether a config-sourced reader is still in the config's lists.
    """
    CREATE TABLE readers (
        id          INTEGER PRIMARY KEY,
        address     TEXT NOT NULL,
        key         TEXT NOT NULL UNIQUE,
        name        TEXT NOT NULL DEFAULT '',
        status      TEXT NOT NULL CHECK (status IN
                        ('active', 'unconfirmed', 'unsubscribed', 'bounced', 'complained')),
        source      TEXT NOT NULL CHECK (source IN ('config', 'import', 'form', 'api', 'cli')),
        listed      INTEGER NOT NULL DEFAULT 1,
        consent_at  TEXT,
        created_at  TEXT NOT NULL,
        changed_at  TEXT NOT NULL,
        reason      TEXT NOT NULL DEFAULT '',
        secret      TEXT NOT NULL
    );
    CREATE INDEX readers_status ON readers(status, listed);
    """,
    # What came back: each inbox message acted on (or skipped, with why), by Message-ID or
    # a hash of its bytes, so reading a mailbox twice changes nothing; temporary bounces by
    # day, so three on different days make a reader bounced.
    """
    CREATE TABLE inbox_seen (
        key          TEXT PRIMARY KEY,
        outcome      TEXT NOT NULL,
        processed_at TEXT NOT NULL
    );
    CREATE TABLE soft_bounces (
        reader_id INTEGER NOT NULL REFERENCES readers(id),
        day       TEXT NOT NULL,
        reply     TEXT NOT NULL,
        PRIMARY KEY (reader_id, day)
    );
    CREATE INDEX deliveries_message_id ON deliveries(message_id);
    """,
    # Sections: each pick counts in its own section's rotation.
    """
    ALTER TABLE picks ADD COLUMN section TEXT NOT NULL DEFAULT '';
    """,
    # Sources: what each refresh found, and what makes the next one cheap (a feed's
    # validators for a conditional GET; a file's size and mtime).
    """
    CREATE TABLE sources (
        key           TEXT PRIMARY KEY,
        etag          TEXT,
        last_modified TEXT,
        file_stamp    TEXT,
        refreshed_at  TEXT,
        added         INTEGER NOT NULL DEFAULT 0,
        total         INTEGER NOT NULL DEFAULT 0,
        error         TEXT NOT NULL DEFAULT ''
    );
    """,
    # What the last refresh that read a source noted (one per line) and how many entries it
    # skipped, so `digest sources` can say so later.
    """
    ALTER TABLE sources ADD COLUMN notes TEXT NOT NULL DEFAULT '';
    ALTER TABLE sources ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
    """,
    # When the inbox was last read and what it held, for `digest status` (one row).
    """
    CREATE TABLE inbox_reads (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        read_at    TEXT NOT NULL,
        messages   INTEGER NOT NULL,
        processed  INTEGER NOT NULL,
        needs_you  INTEGER NOT NULL
    );
    """,
    # A reader who left (unsubscribed, bounced, complained, taken off the list) before their
    # turn in a send is 'left', not a failure; the rows older sends marked so are moved over.
    """
    CREATE TABLE deliveries_new (
        issue_number INTEGER NOT NULL REFERENCES issues(number) ON DELETE CASCADE,
        recipient    TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN
                         ('pending', 'sent', 'failed-permanent', 'failed-temporary', 'left')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_reply   TEXT NOT NULL DEFAULT '',
        message_id   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        address      TEXT,
        token        TEXT,
        PRIMARY KEY (issue_number, recipient)
    );
    INSERT INTO deliveries_new (rowid, issue_number, recipient, status, attempts, last_reply,
                                message_id, updated_at, address, token)
        SELECT rowid, issue_number, recipient,
               CASE WHEN status = 'failed-permanent' AND attempts = 0
                         AND last_reply LIKE 'not sent: the reader is %' THEN 'left'
                    ELSE status END,
               attempts, last_reply, message_id, updated_at, address, token
        FROM deliveries ORDER BY rowid;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_new RENAME TO deliveries;
    CREATE INDEX deliveries_status ON deliveries(issue_number, status);
    CREATE UNIQUE INDEX deliveries_address ON deliveries(issue_number, address);
    CREATE UNIQUE INDEX deliveries_token ON deliveries(token);
    CREATE INDEX deliveries_message_id ON deliveries(message_id);
    """,
    # Welcome messages: claimed before sending, so a reader never gets two (see
    # readers/welcomes.py); sent_at once the transport took it.
    """
    CREATE TABLE welcomes (
        reader_id  INTEGER PRIMARY KEY REFERENCES readers(id),
        message_id TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        sent_at    TEXT,
        reply      TEXT NOT NULL DEFAULT ''
    );
    """,
    # Mailbox keys as mail systems compare addresses: ASCII case only in the user name (no
    # Unicode folding that made K\u212aim, straße and the \ufb01 ligature other readers'
    # keys), the domain in IDNA form.
    rekey_readers,
)
SCHEMA_VERSION = len(MIGRATIONS)
UNFINISHED = ("pending", "failed-temporary")
BUSY_TIMEOUT_S = 30.0


def _utc_key(moment: datetime) -> str:
    """A slot as stored: ``2026-11-30T08:00:00Z``, fixed width so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_utc_key(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class State(Database):
    """An open state database: the issues, picks, slots and delivery log read and written."""

    def history(self) -> list[tuple[Pick, ...]]:
        """Every issue's picks, oldest issue first, each in display order."""
        rows = self.query(
            "SELECT issue_number, excerpt_id, cycle, section FROM picks"
            " ORDER BY issue_number, position"
        )
        grouped: dict[int, list[Pick]] = {}
        for number, excerpt_id, cycle, section in rows:
            grouped.setdefault(number, []).append(Pick(excerpt_id, cycle, section))
        return [tuple(picks) for _, picks in sorted(grouped.items())]

    def last_number(self) -> int:
        """The highest issue number recorded, 0 when there is none."""
        rows = self.query("SELECT COALESCE(MAX(number), 0) FROM issues")
        return int(rows[0][0])

    def record_issue(self, record: IssueRecord) -> None:
        """Insert an issue and its picks; the caller holds :meth:`write_lock`."""
        try:
            self._conn.execute(
                "INSERT INTO issues (number, issue_date, created_at, subject, message_id, folder)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.number,
                    record.date.isoformat(),
                    record.created_at,
                    record.subject,
                    record.message_id,
                    record.folder,
                ),
            )
            self._conn.executemany(
                "INSERT INTO picks (issue_number, position, excerpt_id, cycle, title, section)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (record.number, position, pick.excerpt_id, pick.cycle, title, pick.section)
                    for position, (pick, title) in enumerate(
                        zip(record.picks, record.titles, strict=True)
                    )
                ],
            )
        except sqlite3.Error as e:
            raise fail(self.path or ":memory:", e) from e

    def issues(self, number: int | None = None) -> list[IssueRecord]:
        """Recorded issues, oldest first (or just issue ``number``), with their picks."""
        where, args = ("WHERE number = ?", (number,)) if number is not None else ("", ())
        rows = self.query(
            "SELECT number, issue_date, created_at, subject, message_id, folder FROM issues "
            f"{where} ORDER BY number",
            args,
        )
        picks: dict[int, list[tuple[str, int, str, str]]] = {}
        pick_where = "WHERE issue_number = ?" if number is not None else ""
        for issue_number, excerpt_id, cycle, title, section in self.query(
            f"SELECT issue_number, excerpt_id, cycle, title, section FROM picks {pick_where} "
            "ORDER BY issue_number, position",
            args,
        ):
            picks.setdefault(issue_number, []).append((excerpt_id, cycle, title, section))
        return [
            IssueRecord(
                number=row[0],
                date=date.fromisoformat(row[1]),
                created_at=row[2],
                subject=row[3],
                message_id=row[4],
                folder=row[5],
                picks=tuple(Pick(e, c, s) for e, c, _, s in picks.get(row[0], [])),
                titles=tuple(t for _, _, t, _ in picks.get(row[0], [])),
            )
            for row in rows
        ]

    def record_bodies(self, number: int, rendered: RenderedIssue) -> None:
        """Keep the rendered issue (with personal-field markers) for sending it later."""
        self.execute(
            "INSERT INTO issue_bodies (issue_number, subject, preheader, html, text)"
            " VALUES (?, ?, ?, ?, ?)",
            (number, rendered.subject, rendered.preheader, rendered.html, rendered.text),
        )

    def bodies(self, number: int) -> RenderedIssue | None:
        """The rendered issue kept by :meth:`record_bodies`, if any."""
        rows = self.query(
            "SELECT subject, preheader, html, text FROM issue_bodies WHERE issue_number = ?",
            (number,),
        )
        if not rows:
            return None
        subject, preheader, html, text = (str(value) for value in rows[0])
        return RenderedIssue(subject=subject, preheader=preheader, html=html, text=text)

    def add_deliveries(self, number: int, entries: Iterable[tuple[str, str]], now: str) -> None:
        """Start the delivery log of an issue: (recipient, Message-ID) pairs, all pending.

        Recipients already in the log keep their row, so nothing sent is ever reset, and a
        mailbox listed twice (another spelling or display name) gets one row: the first.
        """
        with self.write_lock():
            self._conn.executemany(
                "INSERT OR IGNORE INTO deliveries"
                " (issue_number, recipient, address, status, message_id, updated_at, token)"
                " VALUES (?, ?, ?, 'pending', ?, ?, ?)",
                (
                    (number, recipient, mailbox_key(recipient), message_id, now, token_hex(8))
                    for recipient, message_id in entries
                ),
            )

    def deliveries(
        self, number: int, statuses: tuple[str, ...] = (), limit: int = -1
    ) -> list[Delivery]:
        """The delivery log of one issue (optionally only some statuses), in insert order."""
        where = f" AND status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        rows = self.query(
            "SELECT issue_number, recipient, status, attempts, last_reply, message_id, updated_at,"
            f" token FROM deliveries WHERE issue_number = ?{where} ORDER BY rowid LIMIT ?",
            (number, *statuses, limit),
        )
        return [Delivery(*row) for row in rows]

    def iter_deliveries(
        self, number: int, statuses: tuple[str, ...], batch: int = 500
    ) -> Iterator[Delivery]:
        """Stream the delivery log in batches, so 100,000 recipients never sit in memory."""
        after = 0
        marks = ", ".join("?" * len(statuses))
        while True:
            rows = self.query(
                "SELECT rowid, issue_number, recipient, status, attempts, last_reply, message_id,"
                f" updated_at, token FROM deliveries WHERE issue_number = ? AND status IN ({marks})"
                " AND rowid > ? ORDER BY rowid LIMIT ?",
                (number, *statuses, after, batch),
            )
            if not rows:
                return
            after = rows[-1][0]
            for row in rows:
                yield Delivery(*row[1:])

    def count_deliveries(self, number: int, statuses: tuple[str, ...] = ()) -> int:
        """How many deliveries of an issue are in these statuses (all when none given)."""
        where = f" AND status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        rows = self.query(
            f"SELECT COUNT(*) FROM deliveries WHERE issue_number = ?{where}", (number, *statuses)
        )
        return int(rows[0][0])

    def mark(
        self, number: int, recipient: str, status: str, reply: str, now: str, *, attempts: int
    ) -> None:
        """Record one delivery attempt's outcome at once (its own transaction)."""
        self.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + ?, last_reply = ?,"
            " updated_at = ? WHERE issue_number = ? AND recipient = ? AND status != 'sent'",
            (status, attempts, reply[:500], now, number, recipient),
        )

    def retry_failed(self, number: int, now: str) -> int:
        """Put an issue's permanently failed deliveries back in the queue; how many."""
        with self.write_lock():
            cursor = self._conn.execute(
                "UPDATE deliveries SET status = 'pending', updated_at = ?"
                " WHERE issue_number = ? AND status = 'failed-permanent'",
                (now, number),
            )
            return int(cursor.rowcount)

    def delivery_counts(self) -> dict[int, dict[str, int]]:
        """Per issue, how many deliveries are in each status."""
        counts: dict[int, dict[str, int]] = {}
        for number, status, count in self.query(
            "SELECT issue_number, status, COUNT(*) FROM deliveries GROUP BY issue_number, status"
        ):
            counts.setdefault(int(number), {})[str(status)] = int(count)
        return counts

    def last_slot(self) -> SlotRecord | None:
        """The latest slot recorded (made or skipped), or None before the first one."""
        return next(iter(self.slots(limit=1)), None)

    def slots(self, limit: int = -1) -> list[SlotRecord]:
        """Recorded slots, latest first."""
        rows = self.query(
            "SELECT slot_utc, timezone, status, issue_number, updated_at FROM slots"
            " ORDER BY slot_utc DESC LIMIT ?",
            (limit,),
        )
        return [
            SlotRecord(Slot(_from_utc_key(row[0]), row[1]), row[2], row[3], row[4]) for row in rows
        ]

    def record_slot(self, slot: Slot, issue_number: int | None, now: str) -> None:
        """Record a slot as made (with its issue) or skipped; the caller holds the lock."""
        self.execute(
            "INSERT INTO slots (slot_utc, timezone, status, issue_number, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                _utc_key(slot.at),
                slot.timezone,
                "skipped" if issue_number is None else "made",
                issue_number,
                now,
            ),
        )


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
            if not path.exists():
                conn = sqlite3.connect(":memory:", isolation_level=None)
                apply_migrations(conn, MIGRATIONS, ":memory:")
                return State(conn, None)
            # Not mode=ro: a read-only connection to a WAL database leaves -wal/-shm files
            # behind; a normal one with query_only removes them when it closes.
            conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
            conn.execute("PRAGMA query_only = ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                conn.close()
                # An old schema is migrated by the next writing command; read it migrated.
                return _migrated_copy(path)
            return State(conn, path)
        # Readers' addresses: the folder 0700 and the file 0600 before SQLite opens it, so
        # its -wal and -shm files, which SQLite gives the database's mode, are 0600 too.
        private_folder(path.parent)
        private_file(path)
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
        use_wal(conn, busy_timeout)
        # WAL with NORMAL: a commit survives the process being killed (-9 included); a power
        # cut may lose the last moments of commits, never corrupt the database.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        apply_migrations(conn, MIGRATIONS, path)
        return State(conn, path)
    except OSError as e:
        raise StateError(
            f"cannot create the state folder {path.parent}: {e}",
            "set 'state' in digest.yaml to a writable path",
        ) from e
    except sqlite3.Error as e:
        raise fail(path, e) from e


def _migrated_copy(path: Path) -> State:
    """An in-memory copy of an older database, migrated, for read-only use."""
    source = sqlite3.connect(path)
    source.execute("PRAGMA query_only = ON")
    conn = sqlite3.connect(":memory:", isolation_level=None)
    source.backup(conn)
    source.close()
    apply_migrations(conn, MIGRATIONS, path)
    return State(conn, None)
