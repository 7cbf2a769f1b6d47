"""Readers: a row per mailbox, never deleted (schema version 6).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``readers``."""
    statuses = "'active', 'unconfirmed', 'unsubscribed', 'bounced', 'complained'"
    op.create_table(
        "readers",
        sa.Column("id", sa.Integer, primary_key=True, nullable=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("status", sa.Text, sa.CheckConstraint(f"status IN ({statuses})"), nullable=False),
        sa.Column(
            "source",
            sa.Text,
            sa.CheckConstraint("source IN ('config', 'import', 'form', 'api', 'cli')"),
            nullable=False,
        ),
        sa.Column("listed", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("consent_at", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("changed_at", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("secret", sa.Text, nullable=False),
    )
    op.create_index("readers_status", "readers", ["status", "listed"])


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
