"""One delivery per mailbox (schema version 4).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """ "Bob <bob@example.org>" and "BOB@example.org" are one reader: a mailbox column."""
    op.add_column("deliveries", sa.Column("address", sa.Text))
    op.create_index("deliveries_address", "deliveries", ["issue_number", "address"], unique=True)


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
