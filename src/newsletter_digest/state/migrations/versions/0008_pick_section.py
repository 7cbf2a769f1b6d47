"""Sections: each pick counts in its own section's rotation (schema version 8).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``picks.section``."""
    op.add_column(
        "picks", sa.Column("section", sa.Text, nullable=False, server_default=sa.text("''"))
    )


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
