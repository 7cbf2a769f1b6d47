"""The state's schema version and its upgrades: Alembic revisions in ``migrations/``,
run in code (no alembic.ini) inside the write lock when a state opens behind.

Revision ``000N`` is the schema that release databases knew as ``PRAGMA user_version = N``;
a database from before Alembic (a user_version, no ``alembic_version`` table) is stamped at
its version and upgraded from there. SQLite keeps ``user_version`` equal to the revision,
so a release from before Alembic refuses a database a later one wrote.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    inspect,
    select,
    text,
)

from newsletter_digest.errors import StateError
from newsletter_digest.state.dialect import Prepared
from newsletter_digest.state.tables import metadata

if TYPE_CHECKING:  # Alembic is imported when an old schema is upgraded, not on each open
    from alembic.config import Config

# Alembic's own table, as Alembic makes it: the revision a database is at.
_VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
_HEADS = Prepared(select(_VERSION_TABLE.c.version_num))  # read by every open: compiled once

MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION = re.compile(r"(\d{4})_\w+\.py")
SCHEMA_VERSION = max(
    int(m.group(1))
    for p in (MIGRATIONS / "versions").iterdir()
    if (m := _REVISION.fullmatch(p.name))
)


def revision(version: int) -> str:
    """The Alembic revision of schema version ``version``."""
    return f"{version:04d}"


def user_version(conn: Connection) -> int:
    """SQLite's schema version number (0 on a new file); a dialect branch."""
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())


def version(conn: Connection, where: Path | str) -> int:
    """The schema version of the database (0: nothing there yet); StateError for one this
    release cannot name (a later release's revision)."""
    current = user_version(conn) if conn.dialect.name == "sqlite" else 0
    for head in heads(conn):
        if not head.isdigit():
            raise too_new(where, head)
        current = max(current, int(head))
    return current


def heads(conn: Connection) -> list[str]:
    """The revisions Alembic recorded (none before Alembic, or in a new database)."""
    if not inspect(conn).has_table(_VERSION_TABLE.name):
        return []
    return [str(v) for (v,) in _HEADS.run(conn, {})]


def current(conn: Connection) -> bool:
    """Whether the schema is this release's, stamped (the usual case, read without a lock)."""
    if conn.dialect.name == "sqlite" and user_version(conn) != SCHEMA_VERSION:
        return False
    return heads(conn) == [revision(SCHEMA_VERSION)]


def too_new(where: Path | str, found: int | str) -> StateError:
    return StateError(
        f"state database {where} has schema version {found}; "
        f"this digest knows up to {SCHEMA_VERSION}",
        "upgrade newsletter-digest to the version that wrote this database",
    )


@cache
def _config() -> Config:
    """Alembic's configuration, built in code: the revisions ship inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(conn: Connection, where: Path | str) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION` inside the caller's transaction, which
    holds the write lock: a new database is made from the tables' metadata and stamped;
    an older one runs the revisions after its own. A later release's is refused."""
    found = version(conn, where)
    if found > SCHEMA_VERSION:
        raise too_new(where, found)
    if found == SCHEMA_VERSION:
        if not heads(conn):  # at the head from before Alembic: stamped, nothing to run
            _stamp(conn, revision(SCHEMA_VERSION))
        return
    if found == 0 and not inspect(conn).get_table_names():
        # A new database: the tables as the revisions leave them (a test proves it), and
        # Alembic's version table at the head, as Alembic makes it.
        metadata.create_all(conn, checkfirst=False)
        _stamp(conn, revision(SCHEMA_VERSION))
    else:
        run_revisions(conn, found)
    if conn.dialect.name == "sqlite":
        conn.execute(text(f"PRAGMA user_version = {SCHEMA_VERSION}"))


def _stamp(conn: Connection, at: str) -> None:
    _VERSION_TABLE.create(conn, checkfirst=True)
    conn.execute(delete(_VERSION_TABLE))
    conn.execute(_VERSION_TABLE.insert().values(version_num=at))


def run_revisions(conn: Connection, found: int) -> None:
    """Alembic's upgrade to head from ``found`` (stamped first when from before Alembic)."""
    from alembic import command

    if found and not heads(conn):
        _stamp(conn, revision(found))
    config = _config()
    config.attributes["connection"] = conn
    try:
        command.upgrade(config, "head")
    finally:
        config.attributes.pop("connection", None)
