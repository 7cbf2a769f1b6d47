"""Mailbox keys as mail systems compare addresses (schema version 14).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from newsletter_digest.state.database import refuse_downgrade
from newsletter_digest.state.rekey import rekey_readers

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """ASCII case only in the user name, the domain in IDNA form: readers' and deliveries'
    keys computed anew (see :func:`newsletter_digest.state.rekey.rekey_readers`)."""
    rekey_readers(op.get_bind())


def downgrade() -> None:
    """State is never downgraded: restore a backup instead."""
    refuse_downgrade()
