"""Issues and their picks: the rotation's memory (schema version 1).

Revision ID: 0001
Revises: <base>
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``issues`` and ``picks``."""
    op.create_table(
        "issues",
        sa.Column("number", sa.Integer, primary_key=True, nullable=True),
        sa.Column("issue_date", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
    )
    op.create_table(
        "picks",
        sa.Column(
            "issue_number",
            sa.Integer,
            sa.ForeignKey("issues.number", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("excerpt_id", sa.Text, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("issue_number", "position"),
    )


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
