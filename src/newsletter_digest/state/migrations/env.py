"""Alembic's environment for the state: run in code by ``state/schema.py`` on the
connection it passes (inside the state's write lock); no alembic.ini, no URL."""

from __future__ import annotations

import logging

from alembic import context

from newsletter_digest.state.tables import metadata

logging.getLogger("alembic").setLevel(logging.WARNING)  # an upgrade is not news on stderr

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
