"""Rendered issue bodies and the delivery log (schema version 2).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``issue_bodies`` and ``deliveries`` (four statuses)."""
    op.create_table(
        "issue_bodies",
        sa.Column(
            "issue_number",
            sa.Integer,
            sa.ForeignKey("issues.number", ondelete="CASCADE"),
            primary_key=True,
            nullable=True,
        ),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("preheader", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    statuses = "'pending', 'sent', 'failed-permanent', 'failed-temporary'"
    op.create_table(
        "deliveries",
        sa.Column(
            "issue_number",
            sa.Integer,
            sa.ForeignKey("issues.number", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column(
            "status",
            sa.Text,
            sa.CheckConstraint(f"status IN ({statuses})", name="deliveries_status_check"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_reply", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("issue_number", "recipient"),
    )
    op.create_index("deliveries_status", "deliveries", ["issue_number", "status"])


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
