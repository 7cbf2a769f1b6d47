"""When the inbox was last read and what it held (schema version 11).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``inbox_reads`` (one row)."""
    op.create_table(
        "inbox_reads",
        sa.Column("id", sa.Integer, sa.CheckConstraint("id = 1"), primary_key=True, nullable=True),
        sa.Column("read_at", sa.Text, nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, nullable=False),
        sa.Column("needs_you", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
