"""What came back: inbox messages seen, temporary bounces by day (schema version 7).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``inbox_seen`` and ``soft_bounces``; index deliveries by Message-ID."""
    op.create_table(
        "inbox_seen",
        sa.Column("key", sa.Text, primary_key=True, nullable=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("processed_at", sa.Text, nullable=False),
    )
    op.create_table(
        "soft_bounces",
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=False),
        sa.Column("day", sa.Text, nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("reader_id", "day"),
    )
    op.create_index("deliveries_message_id", "deliveries", ["message_id"])


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
