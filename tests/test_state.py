"""The state database: records, history order, locking, read-only use, schema version."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from fixtures.state.legacy import MIGRATIONS, rekey_readers
from newsletter_digest.errors import StateError
from newsletter_digest.models import IssueRecord, Pick
from newsletter_digest.readers import book
from newsletter_digest.state.store import SCHEMA_VERSION, open_state


def record(number: int, *ids: str) -> IssueRecord:
    return IssueRecord(
        number=number,
        date=date(2026, 11, number),
        created_at=f"2026-11-{number:02d}T09:00:00+00:00",
        subject=f"Issue {number}",
        message_id=f"<{number}@example.org>",
        folder=f"issue-{number:04d}",
        picks=tuple(Pick(i, 0) for i in ids),
        titles=tuple(i.upper() for i in ids),
    )


def test_records_come_back_in_order_with_picks(tmp_path: Path) -> None:
    path = tmp_path / "s" / "state.db"
    with open_state(path) as state:
        for n, ids in ((1, "ab"), (2, "cd")):
            with state.write_lock():
                state.record_issue(record(n, *ids))
    with open_state(path) as state:
        assert state.last_number() == 2
        assert state.history() == [(Pick("a", 0), Pick("b", 0)), (Pick("c", 0), Pick("d", 0))]
        issues = state.issues()
        assert [i.number for i in issues] == [1, 2]
        assert issues[1].titles == ("C", "D")
        assert state.issues(1)[0].subject == "Issue 1"


def test_a_failed_step_leaves_no_trace(tmp_path: Path) -> None:
    with open_state(tmp_path / "state.db") as state:
        with pytest.raises(RuntimeError), state.write_lock():
            state.record_issue(record(1, "a"))
            raise RuntimeError("the outbox write failed")
        assert state.last_number() == 0
        assert state.history() == []


def test_readonly_open_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".digest" / "state.db"
    with open_state(path, readonly=True) as state:
        assert state.last_number() == 0
    assert not path.exists()
    assert not path.parent.exists()


def test_readonly_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_state(path).close()
    with (
        open_state(path, readonly=True) as state,
        pytest.raises(StateError),
        state.write_lock(),
    ):
        state.record_issue(record(1, "a"))


def test_schema_version_is_stored_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_state(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="schema version"):
        open_state(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError) as info:
        open_state(path)
    assert str(path) in info.value.message
    assert info.value.hint


def test_duplicate_issue_number_is_refused(tmp_path: Path) -> None:
    with open_state(tmp_path / "state.db") as state:
        with state.write_lock():
            state.record_issue(record(1, "a"))
        with pytest.raises(StateError), state.write_lock():
            state.record_issue(record(1, "b"))
        assert state.history() == [(Pick("a", 0),)]


def test_an_old_database_is_migrated_in_place_and_read_as_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    old.execute(
        "INSERT INTO issues VALUES (1, '2026-11-01', '2026-11-01T09:00', 's', '<m@x>', 'f')"
    )
    old.execute("INSERT INTO picks VALUES (1, 0, 'a', 0, 'A')")
    old.commit()
    old.close()
    before = path.read_bytes()
    with open_state(path, readonly=True) as state:
        assert state.history() == [(Pick("a", 0),)]
        assert state.delivery_counts() == {}
    assert path.read_bytes() == before
    with open_state(path) as state:
        assert state.history() == [(Pick("a", 0),)]
        state.add_deliveries(1, [("r@example.org", "<1@x>")], "now")
        assert state.delivery_counts() == {1: {"pending": 1}}
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_readers_who_left_in_an_older_send_are_moved_out_of_the_failures(tmp_path: Path) -> None:
    """Before 'left' existed, a send logged a reader who had left as failed-permanent with
    'not sent: the reader is …': such rows become 'left', real failures stay failures."""
    path = tmp_path / "state.db"
    before = next(i for i, step in enumerate(MIGRATIONS) if "deliveries_new" in step)
    old = sqlite3.connect(path)
    old.executescript("".join(MIGRATIONS[:before]) + f"PRAGMA user_version = {before};")
    old.execute("INSERT INTO issues VALUES (2, '2026-12-01', 'x', 'Issue 2', '<2@x>', 'f')")
    rows = [
        ("a@x", "sent", 1, "250 ok"),
        ("b@x", "failed-permanent", 0, "not sent: the reader is unsubscribed"),
        ("c@x", "failed-permanent", 1, "550 5.1.1 no such user"),
        ("d@x", "failed-permanent", 0, "not sent: the reader is removed"),
        ("e@x", "pending", 0, ""),
    ]
    old.executemany(
        "INSERT INTO deliveries (issue_number, recipient, status, attempts, last_reply,"
        " message_id, updated_at, address, token) VALUES (2, ?, ?, ?, ?, ?, 'now', ?, ?)",
        [(r, s, n, reply, f"<{r}>", r, r) for r, s, n, reply in rows],
    )
    old.commit()
    old.close()
    with open_state(path) as state:
        log = state.deliveries(2)
        assert [(d.recipient, d.status) for d in log] == [
            ("a@x", "sent"),
            ("b@x", "left"),
            ("c@x", "failed-permanent"),
            ("d@x", "left"),
            ("e@x", "pending"),
        ]
        assert state.delivery_counts() == {
            2: {"sent": 1, "left": 2, "failed-permanent": 1, "pending": 1}
        }
        assert [d.recipient for d in state.iter_deliveries(2, ("pending",))] == ["e@x"]


def test_processes_opening_a_new_state_at_once_all_get_it_whole(tmp_path: Path) -> None:
    """Four commands starting together on a new project (a timer, serve, a send): each
    opens the state, none fails, none re-applies a migration another just made (one that
    runs again without error would set the version back), and the schema is whole."""
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from newsletter_digest.state.store import open_state\n"
        "with open_state(Path(sys.argv[1])): pass\n"
    )
    for round_ in range(8):
        path = tmp_path / f"p{round_}" / ".digest" / "state.db"
        children = [
            subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        errors = [child.communicate(timeout=60)[1].decode() for child in children]
        assert [child.returncode for child in children] == [0] * 4, errors
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()


def test_an_old_reader_book_is_keyed_anew_and_keeps_every_reader(tmp_path: Path) -> None:
    """Keys were case-folded: K\u212aim (Kelvin sign) was kim's key. After the upgrade each
    is a reader of its own, and a domain in Unicode and in IDNA form is one mailbox whose
    refusal holds for both rows."""
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    rekey = MIGRATIONS.index(rekey_readers)
    for number, migration in enumerate(MIGRATIONS[:rekey], 1):
        assert isinstance(migration, str)
        old.executescript(f"{migration} PRAGMA user_version = {number};")
    readers = [
        ("\u212aim@example.com", "active"),
        ("stra\u00dfe@example.com", "active"),
        ("jo@bücher.example", "unsubscribed"),
        ("jo@xn--bcher-kva.example", "active"),
        ("Ann@Example.org", "active"),
    ]
    for n, (address, status) in enumerate(readers, 1):
        old.execute(
            "INSERT INTO readers (id, address, key, status, source, created_at, changed_at,"
            " secret) VALUES (?, ?, ?, ?, 'cli', 'then', 'then', 's')",
            (n, address, address.casefold(), status),
        )
    old.commit()
    old.close()
    with open_state(path) as state:
        assert book.find(state, "kim@example.com") is None
        assert book.find(state, "strasse@example.com") is None
        kelvin = book.find(state, "\u212aim@EXAMPLE.com")
        assert kelvin is not None and kelvin.id == 1
        reader, added = book.add(state, "kim@example.com", source="cli", now="now")
        assert added and reader.id != 1
        assert book.find(state, "ann@example.org") == book.get(state, 5)
        jo = book.find(state, "JO@xn--bcher-kva.example")
        assert jo is not None and (jo.id, jo.status) == (3, "unsubscribed")
        twin = book.get(state, 4)
        assert twin is not None and twin.status == "unsubscribed" and "#3" in twin.reason
        assert len(list(book.readers(state))) == 6
        assert [r.address for r in book.active(state)] == [
            "\u212aim@example.com",
            "stra\u00dfe@example.com",
            "Ann@Example.org",
            "kim@example.com",
        ]


def test_a_write_takes_the_lock_when_it_starts_and_waits_the_busy_timeout(
    tmp_path: Path,
) -> None:
    """The write lock is SQLite's, taken by BEGIN IMMEDIATE at the start of the step (not at
    its first write), and a step waits ``busy_timeout`` for another holder, then fails."""
    path = tmp_path / "state.db"
    with open_state(path, busy_timeout=0.3) as state:
        with state.write_lock():
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # nothing written yet, the lock is held
            other.close()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StateError, match="locked"), state.write_lock():
            pass
        assert 0.25 < time.monotonic() - started < 5
        holder.execute("ROLLBACK")
        holder.close()
        with state.write_lock():
            state.record_issue(record(1, "a"))
        assert state.last_number() == 1


def test_staging_no_readers_adds_nothing(tmp_path: Path) -> None:
    """An import whose rows fill whole batches stages an empty last one: it adds no reader."""
    with open_state(tmp_path / "state.db") as state:
        book.stage(state, [book.Entry("ann@example.org", "Ann", "active", None)])
        book.stage(state, [])
        outcomes = list(book.add_staged(state, 10, source="import", reason="x", now="now"))
        assert [o.rows for o in outcomes] == [1]
        assert [r.address for r in book.readers(state)] == ["ann@example.org"]


# Another process tries to take the database out of WAL mode: SQLite lets it only when no
# connection holds the shared lock every WAL connection keeps on the database file.
_OUT_OF_WAL = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0.2)
print(conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0])
"""


def test_opening_the_state_again_keeps_the_locks_of_a_connection_already_open(
    tmp_path: Path,
) -> None:
    """`digest serve` opens the state once a request, in threads beside open ones. SQLite's
    locks are POSIX locks, which closing any descriptor of the file drops for the whole
    process: an open that touched the file released the lock that keeps other processes
    from checkpointing and removing the WAL under open connections, and one-click
    unsubscribes answered 200 during a `digest build` were lost (the readers stayed active)."""
    path = tmp_path / "state.db"
    with open_state(path) as state:
        book.counts(state)
        with open_state(path):
            pass
        other = subprocess.run(
            [sys.executable, "-c", _OUT_OF_WAL, str(path)], capture_output=True, text=True
        )
        assert "database is locked" in other.stderr, other.stdout
        assert book.counts(state) == {}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
