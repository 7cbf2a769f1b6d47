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
    return state.claim_welcome(reader_id, message_id, now)


def sent(state: State, reader_id: int, reply: str, now: str) -> None:
    """The transport took the welcome."""
    state.welcome_sent(reader_id, reply, now)


def release(state: State, reader_id: int) -> None:
    """The transport did not take it: the next confirmation may try again."""
    state.release_welcome(reader_id)


def sent_at(state: State, reader_id: int) -> str | None:
    """When the reader's welcome went out, if it did."""
    return state.welcome_sent_at(reader_id)
