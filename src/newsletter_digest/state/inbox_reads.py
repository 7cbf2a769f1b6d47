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
    state.record_inbox_read(tuple(read))  # type: ignore[arg-type]


def last_inbox_read(state: State) -> InboxRead | None:
    """The last read recorded, or None before the first."""
    found = state.last_inbox_read()
    return InboxRead(*found) if found is not None else None
