"""Sources: what each refresh found and what makes the next cheap (schema version 9).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``sources``."""
    op.create_table(
        "sources",
        sa.Column("key", sa.Text, primary_key=True, nullable=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("file_stamp", sa.Text),
        sa.Column("refreshed_at", sa.Text),
        sa.Column("added", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("total", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text, nullable=False, server_default=sa.text("''")),
    )


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
