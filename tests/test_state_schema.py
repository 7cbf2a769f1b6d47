"""The state's schema and its upgrades: every released schema version (a SQL dump of each
in tests/fixtures/state/, made by the migrations as they shipped) upgrades in place to the
schema a new state has, keeps its rows with their meaning, and the program works on it."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import create_engine, inspect

from newsletter_digest.addresses import mailbox_key
from newsletter_digest.errors import StateError
from newsletter_digest.readers import book
from newsletter_digest.state import schema
from newsletter_digest.state.store import SCHEMA_VERSION, open_state
from newsletter_digest.state.tables import metadata

FIXTURES = Path(__file__).parent / "fixtures" / "state"
VERSIONS = sorted(int(p.stem[1:]) for p in FIXTURES.glob("v*.sql"))
Digest = Callable[..., Result]


def load(version: int, path: Path) -> Path:
    """A state database at ``path`` as release ``version`` left it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript((FIXTURES / f"v{version:02d}.sql").read_text(encoding="utf-8"))
    db.close()
    return path


def shape(path: Path) -> dict[str, Any]:
    """What SQLAlchemy's inspector sees of a database: per table its columns, primary key,
    indexes, unique constraints, foreign keys and CHECKs (whitespace aside)."""
    engine = create_engine(f"sqlite:///{path}")
    raw = sqlite3.connect(path)
    try:
        seen = inspect(engine)
        tables = {}
        for name in sorted(seen.get_table_names()):
            tables[name] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c["default"], c["primary_key"])
                    for c in seen.get_columns(name)
                ],
                "primary key": seen.get_pk_constraint(name)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in seen.get_indexes(name)
                ),
                "unique": sorted(
                    tuple(u["column_names"]) for u in seen.get_unique_constraints(name)
                ),
                # SQLite's own account: the inspector misses an ON DELETE on some layouts
                "foreign keys": sorted(
                    row[2:] for row in raw.execute(f"PRAGMA foreign_key_list({name})")
                ),
                "checks": sorted(
                    re.sub(r"\s+", "", c["sqltext"]) for c in seen.get_check_constraints(name)
                ),
            }
        return tables
    finally:
        raw.close()
        engine.dispose()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema of a new state."""
    path = tmp_path_factory.mktemp("fresh") / "state.db"
    open_state(path).close()
    return shape(path)


def test_a_new_state_has_every_table_of_the_metadata(fresh: dict[str, Any]) -> None:
    assert set(fresh) == {*metadata.tables, "alembic_version"}
    assert fresh["deliveries"]["indexes"] == [
        ("deliveries_address", ("issue_number", "address"), True),
        ("deliveries_message_id", ("message_id",), False),
        ("deliveries_status", ("issue_number", "status"), False),
        ("deliveries_token", ("token",), True),
    ]


def test_the_revisions_from_nothing_make_the_schema_a_new_state_has(
    tmp_path: Path, fresh: dict[str, Any]
) -> None:
    """A new state is made from the tables' metadata (fast), an old one by the revisions:
    both are one schema."""
    path = tmp_path / "state.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        schema.run_revisions(conn, 0)
    engine.dispose()
    assert shape(path) == fresh


@pytest.mark.parametrize("version", VERSIONS)
def test_each_released_schema_upgrades_in_place_to_a_new_states(
    version: int, tmp_path: Path, fresh: dict[str, Any]
) -> None:
    path = load(version, tmp_path / "state.db")
    open_state(path).close()
    assert shape(path) == fresh
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
        (schema.revision(SCHEMA_VERSION),)
    ]
    db.close()
    open_state(path).close()  # and opening it again changes nothing
    assert shape(path) == fresh


@pytest.mark.parametrize("version", VERSIONS)
def test_each_released_schemas_rows_keep_their_meaning(version: int, tmp_path: Path) -> None:
    path = load(version, tmp_path / "state.db")
    with open_state(path) as state:
        assert [(i.number, i.subject) for i in state.issues()] == [(1, "Issue 1"), (2, "Issue 2")]
        picks = state.history()[1]
        assert [p.excerpt_id for p in picks] == ["e20", "e21"]
        assert [p.section for p in picks] == ["", "Reading" if version >= 8 else ""]
        if version < 2:
            return
        body = state.bodies(2)
        assert body is not None and body.html == "<p>Hi {{name}}</p>"
        log = state.deliveries(2)
        # Readers who had left before their turn are 'left' (the upgrade to 12 moved them).
        assert [(d.recipient, d.status) for d in log] == [
            ("ann@example.org", "sent"),
            ("b@example.org", "left"),
            ("c@example.org", "failed-permanent"),
            ("d@example.org", "left"),
            ("E@Example.org", "pending"),
        ]
        tokens = [d.token for d in log]
        assert all(re.fullmatch(r"[0-9a-f]{16}", t) for t in tokens) and len(set(tokens)) == 5
        if version >= 5:
            assert tokens == [f"{i:016x}" for i in range(5)]
        assert state.delivery_recipients(token=tokens[4]) == ["E@Example.org"]
        _later_tables(state, version)
    db = sqlite3.connect(path)
    assert db.execute("SELECT recipient, address FROM deliveries").fetchall() == [
        (d.recipient, mailbox_key(d.recipient)) for d in log
    ]
    db.close()


def _later_tables(state: Any, version: int) -> None:
    """The rows of tables later releases added, as the upgrade leaves them."""
    if version >= 3:
        assert [(s.status, s.issue_number) for s in state.slots()] == [
            ("skipped", None),
            ("made", 2),
        ]
    if version >= 6:
        assert book.find(state, "kim@example.com") is None  # K\u212aim is a reader of its own
        kelvin = book.find(state, "\u212aim@EXAMPLE.com")
        assert kelvin is not None and kelvin.id == 2 and kelvin.name == ""
        jo = book.find(state, "JO@xn--bcher-kva.example")
        assert jo is not None and (jo.id, jo.status) == (3, "unsubscribed")
        twin = book.get(state, 4)
        assert twin is not None and twin.status == "unsubscribed" and "#3" in twin.reason
        assert book.counts(state) == {"active": 2, "unsubscribed": 2, "bounced": 1}
    if version >= 7:
        assert state.inbox_seen("<bounce-1@mx.example>")
        assert state.soft_bounce(1, "2026-11-04", "452") == 2  # the day kept counts
    if version >= 9:
        source = state.source("feed:https://blog.example/feed.xml")
        assert source is not None and (source.etag, source.total) == ('"abc"', 5)
        assert (source.notes, source.skipped) == (
            ("one entry had no text", 1) if version >= 10 else ("", 0)
        )
    if version >= 11:
        assert state.last_inbox_read() == ("2026-11-03T10:00:00+00:00", 3, 2, 1)
    if version >= 13:
        assert state.welcome_sent_at(1) == "2026-10-01T00:00:02+00:00"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_program_works_on_each_released_schema(
    version: int, project: Path, digest: Digest
) -> None:
    load(version, project / ".digest" / "state.db")
    history = digest("history")
    assert history.exit_code == 0, history.output
    assert "Issue 1" in history.output and "Issue 2" in history.output
    readers = digest("readers", "list")
    assert readers.exit_code == 0, readers.output
    if version >= 6:
        assert "ann@example.org" in readers.output and "bob@example.org" in readers.output


def test_a_schema_a_later_release_wrote_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_state(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE alembic_version SET version_num = ?", (schema.revision(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StateError, match="schema version") as info:
        open_state(path)
    assert "upgrade newsletter-digest" in info.value.hint
    with pytest.raises(StateError, match="schema version"):
        open_state(path, readonly=True)


def test_an_old_schema_read_only_is_read_upgraded_and_left_as_it_was(tmp_path: Path) -> None:
    path = load(6, tmp_path / "state.db")
    before = path.read_bytes()
    with open_state(path, readonly=True) as state:
        assert [d.status for d in state.deliveries(2)].count("left") == 2
        assert book.find(state, "\u212aim@example.com") is not None
    assert path.read_bytes() == before


def test_no_revision_downgrades_the_state_it_says_to_restore_a_backup() -> None:
    """A revision moved data that cannot all be moved back; its downgrade refuses with the
    way out (a clear StateError, no NotImplementedError traceback)."""
    versions = Path(schema.__file__).parent / "migrations" / "versions"
    revisions = sorted(versions.glob("0*.py"))
    assert len(revisions) >= 14
    for path in revisions:
        spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with pytest.raises(StateError) as refused:
            module.downgrade()
        assert "digest state restore" in refused.value.hint, path.name
