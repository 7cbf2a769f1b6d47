"""A reader who left before their turn is 'left', not a failure (schema version 12).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Allow the status 'left' and move the rows older sends marked failed that way."""
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot change a CHECK: the table is made anew (rowids kept: insert order).
        for statement in _SQLITE_REBUILD:
            op.execute(statement)
        return
    op.drop_constraint("deliveries_status_check", "deliveries", type_="check")
    op.create_check_constraint("deliveries_status_check", "deliveries", f"status IN ({_STATUSES})")
    op.execute(
        "UPDATE deliveries SET status = 'left' WHERE status = 'failed-permanent'"
        " AND attempts = 0 AND last_reply LIKE 'not sent: the reader is %'"
    )


_STATUSES = "'pending', 'sent', 'failed-permanent', 'failed-temporary', 'left'"
_SQLITE_REBUILD = (
    f"""CREATE TABLE deliveries_new (
        issue_number INTEGER NOT NULL REFERENCES issues(number) ON DELETE CASCADE,
        recipient    TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ({_STATUSES})),
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_reply   TEXT NOT NULL DEFAULT '',
        message_id   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        address      TEXT,
        token        TEXT,
        PRIMARY KEY (issue_number, recipient)
    )""",
    """INSERT INTO deliveries_new (rowid, issue_number, recipient, status, attempts, last_reply,
                                message_id, updated_at, address, token)
        SELECT rowid, issue_number, recipient,
               CASE WHEN status = 'failed-permanent' AND attempts = 0
                         AND last_reply LIKE 'not sent: the reader is %' THEN 'left'
                    ELSE status END,
               attempts, last_reply, message_id, updated_at, address, token
        FROM deliveries ORDER BY rowid""",
    "DROP TABLE deliveries",
    "ALTER TABLE deliveries_new RENAME TO deliveries",
    "CREATE INDEX deliveries_status ON deliveries(issue_number, status)",
    "CREATE UNIQUE INDEX deliveries_address ON deliveries(issue_number, address)",
    "CREATE UNIQUE INDEX deliveries_token ON deliveries(token)",
    "CREATE INDEX deliveries_message_id ON deliveries(message_id)",
)


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
