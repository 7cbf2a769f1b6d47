"""Welcome messages, claimed before sending: never two (schema version 13).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``welcomes``."""
    op.create_table(
        "welcomes",
        sa.Column(
            "reader_id", sa.Integer, sa.ForeignKey("readers.id"), primary_key=True, nullable=True
        ),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("claimed_at", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Text),
        sa.Column("reply", sa.Text, nullable=False, server_default=sa.text("''")),
    )


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
