"""Who was sent a welcome: at most one per reader, ever, even across a crash.

A welcome is *claimed* (a row for the reader) before it is sent, in its own transaction;
only the process whose claim added the row sends. Then:
- the transport took it: the row gets ``sent_at``;
- the transport said it did not take it: the claim is released, so a later confirmation
  tries again;
- the process died in between: the claim stays, and nobody sends it again. A crash can
  cost a reader their welcome; it can never give them two. (No transport can tell whether
  a message it was handing over when the process died went out, so "exactly once" is not
  on offer: "at most once" is the safe side for a greeting.)
"""

from __future__ import annotations

from newsletter_digest.state.store import State


def claim(state: State, reader_id: int, message_id: str, now: str) -> bool:
    """Claim the reader's welcome; False if it was claimed (or sent) before."""
    with state.write_lock():
        added = state.execute(
            "INSERT OR IGNORE INTO welcomes (reader_id, message_id, claimed_at) VALUES (?, ?, ?)",
            (reader_id, message_id, now),
        )
    return added > 0


def sent(state: State, reader_id: int, reply: str, now: str) -> None:
    """The transport took the welcome."""
    state.execute(
        "UPDATE welcomes SET sent_at = ?, reply = ? WHERE reader_id = ?",
        (now, reply[:500], reader_id),
    )


def release(state: State, reader_id: int) -> None:
    """The transport did not take it: the next confirmation may try again."""
    state.execute("DELETE FROM welcomes WHERE reader_id = ? AND sent_at IS NULL", (reader_id,))


def sent_at(state: State, reader_id: int) -> str | None:
    """When the reader's welcome went out, if it did."""
    rows = state.query("SELECT sent_at FROM welcomes WHERE reader_id = ?", (reader_id,))
    return str(rows[0][0]) if rows and rows[0][0] is not None else None
