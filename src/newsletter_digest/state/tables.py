"""The state's tables as SQLAlchemy Core metadata: the schema the migrations arrive at.

Column order, types, defaults, CHECKs, indexes and foreign keys are those of a database
migrated from the first release on (``tests/test_state_schema.py`` compares the two), so
a fresh state made from this metadata and an upgraded one are the same schema.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.sql.schema import SchemaItem

metadata = MetaData()

DELIVERY_STATUSES = ("pending", "sent", "failed-permanent", "failed-temporary", "left")
READER_STATUSES = ("active", "unconfirmed", "unsubscribed", "bounced", "complained")
READER_SOURCES = ("config", "import", "form", "api", "cli")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})")


def _key(name: str, kind: type[Integer] | type[Text] = Integer, *args: SchemaItem) -> Column[Any]:
    """A single-column primary key as the first releases declared it (no NOT NULL)."""
    return Column(name, kind, *args, primary_key=True, nullable=True)


def _zero(name: str) -> Column[int]:
    return Column(name, Integer, nullable=False, server_default=text("0"))


def _blank(name: str) -> Column[str]:
    return Column(name, Text, nullable=False, server_default=text("''"))


issues = Table(
    "issues",
    metadata,
    _key("number"),
    Column("issue_date", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("folder", Text, nullable=False),
)

picks = Table(
    "picks",
    metadata,
    Column(
        "issue_number",
        Integer,
        ForeignKey("issues.number", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("excerpt_id", Text, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("title", Text, nullable=False),
    _blank("section"),
    PrimaryKeyConstraint("issue_number", "position"),
)

issue_bodies = Table(
    "issue_bodies",
    metadata,
    _key("issue_number", Integer, ForeignKey("issues.number", ondelete="CASCADE")),
    Column("subject", Text, nullable=False),
    Column("preheader", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column(
        "issue_number",
        Integer,
        ForeignKey("issues.number", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("recipient", Text, nullable=False),
    Column("status", Text, _one_of("status", DELIVERY_STATUSES), nullable=False),
    _zero("attempts"),
    _blank("last_reply"),
    Column("message_id", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("address", Text),
    Column("token", Text),
    PrimaryKeyConstraint("issue_number", "recipient"),
    Index("deliveries_status", "issue_number", "status"),
    Index("deliveries_address", "issue_number", "address", unique=True),
    Index("deliveries_token", "token", unique=True),
    Index("deliveries_message_id", "message_id"),
)

slots = Table(
    "slots",
    metadata,
    _key("slot_utc", Text),
    Column("timezone", Text, nullable=False),
    Column("status", Text, _one_of("status", ("made", "skipped")), nullable=False),
    Column("issue_number", Integer, ForeignKey("issues.number"), unique=True),
    Column("updated_at", Text, nullable=False),
    CheckConstraint("(status = 'made') = (issue_number IS NOT NULL)"),
)

readers = Table(
    "readers",
    metadata,
    _key("id"),
    Column("address", Text, nullable=False),
    Column("key", Text, nullable=False, unique=True),
    _blank("name"),
    Column("status", Text, _one_of("status", READER_STATUSES), nullable=False),
    Column("source", Text, _one_of("source", READER_SOURCES), nullable=False),
    Column("listed", Integer, nullable=False, server_default=text("1")),
    Column("consent_at", Text),
    Column("created_at", Text, nullable=False),
    Column("changed_at", Text, nullable=False),
    _blank("reason"),
    Column("secret", Text, nullable=False),
    Index("readers_status", "status", "listed"),
)

inbox_seen = Table(
    "inbox_seen",
    metadata,
    _key("key", Text),
    Column("outcome", Text, nullable=False),
    Column("processed_at", Text, nullable=False),
)

soft_bounces = Table(
    "soft_bounces",
    metadata,
    Column("reader_id", Integer, ForeignKey("readers.id"), nullable=False),
    Column("day", Text, nullable=False),
    Column("reply", Text, nullable=False),
    PrimaryKeyConstraint("reader_id", "day"),
)

sources = Table(
    "sources",
    metadata,
    _key("key", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("file_stamp", Text),
    Column("refreshed_at", Text),
    _zero("added"),
    _zero("total"),
    _blank("error"),
    _blank("notes"),
    _zero("skipped"),
)

inbox_reads = Table(
    "inbox_reads",
    metadata,
    _key("id", Integer, CheckConstraint("id = 1")),
    Column("read_at", Text, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("processed", Integer, nullable=False),
    Column("needs_you", Integer, nullable=False),
)

welcomes = Table(
    "welcomes",
    metadata,
    _key("reader_id", Integer, ForeignKey("readers.id")),
    Column("message_id", Text, nullable=False),
    Column("claimed_at", Text, nullable=False),
    Column("sent_at", Text),
    _blank("reply"),
)
