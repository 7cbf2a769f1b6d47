"""An opaque token per delivery, named by VERP senders (schema version 5).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence
from secrets import token_hex

import sqlalchemy as sa
from alembic import op

from newsletter_digest.state.database import refuse_downgrade

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``deliveries.token``, filled for the rows there are, and its unique index."""
    op.add_column("deliveries", sa.Column("token", sa.Text))
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("UPDATE deliveries SET token = lower(hex(randomblob(8)))")
    else:
        log = sa.table("deliveries", sa.column("issue_number"), sa.column("recipient"))
        keys = bind.execute(sa.select(log.c.issue_number, log.c.recipient)).all()
        if keys:
            bind.execute(
                sa.text(
                    "UPDATE deliveries SET token = :token"
                    " WHERE issue_number = :number AND recipient = :recipient"
                ),
                [{"token": token_hex(8), "number": n, "recipient": r} for n, r in keys],
            )
    op.create_index("deliveries_token", "deliveries", ["token"], unique=True)


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
