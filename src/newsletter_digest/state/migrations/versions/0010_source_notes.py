"""A source's notes and skipped entries from its last read (schema version 10).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``sources.notes`` and ``sources.skipped``."""
    op.add_column(
        "sources", sa.Column("notes", sa.Text, nullable=False, server_default=sa.text("''"))
    )
    op.add_column(
        "sources", sa.Column("skipped", sa.Integer, nullable=False, server_default=sa.text("0"))
    )


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
