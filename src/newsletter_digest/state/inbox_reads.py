"""The last read of the returned-mail inbox: when, and what it held (for `digest status`)."""

from __future__ import annotations

from typing import NamedTuple

from newsletter_digest.state.store import State


class InboxRead(NamedTuple):
    read_at: str
    messages: int  # new messages seen in that read
    processed: int  # acted on (or skipped for good) and moved
    needs_you: int  # left in the inbox for a person to judge


def record_inbox_read(state: State, read: InboxRead) -> None:
    """Keep ``read`` as the inbox's last read (one row, replaced each time)."""
    with state.write_lock():
        state.execute(
            "INSERT OR REPLACE INTO inbox_reads (id, read_at, messages, processed, needs_you)"
            " VALUES (1, ?, ?, ?, ?)",
            tuple(read),
        )


def last_inbox_read(state: State) -> InboxRead | None:
    """The last read recorded, or None before the first."""
    rows = state.query("SELECT read_at, messages, processed, needs_you FROM inbox_reads")
    return InboxRead(str(rows[0][0]), *(int(n) for n in rows[0][1:])) if rows else None
