"""Scheduled slots, made or skipped (schema version 3).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``slots``."""
    op.create_table(
        "slots",
        sa.Column("slot_utc", sa.Text, primary_key=True, nullable=True),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column(
            "status", sa.Text, sa.CheckConstraint("status IN ('made', 'skipped')"), nullable=False
        ),
        sa.Column("issue_number", sa.Integer, sa.ForeignKey("issues.number"), unique=True),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.CheckConstraint("(status = 'made') = (issue_number IS NOT NULL)"),
    )


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
