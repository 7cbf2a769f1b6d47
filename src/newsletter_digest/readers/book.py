"""The reader book: one row per mailbox, never deleted, so refusals are kept for good.

An unsubscribed, bounced or complained reader stays suppressed whatever later imports or
config lists say; only the reader's own confirmed subscription (a new secret, so links
from before stay void) makes them active again.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Iterator
from email.utils import quote
from typing import NamedTuple

from newsletter_digest.addresses import CONTROLS, mailbox_key, split_mailbox
from newsletter_digest.state.leaving import LeavingQueue
from newsletter_digest.state.store import State

STATUSES = ("active", "unconfirmed", "unsubscribed", "bounced", "complained")
SUPPRESSED = ("unsubscribed", "bounced", "complained")
SOURCES = ("config", "import", "form", "api", "cli")


class Reader(NamedTuple):
    """One reader as the book has it."""

    id: int
    address: str
    name: str
    status: str
    source: str
    listed: bool
    consent_at: str | None
    created_at: str
    changed_at: str
    reason: str
    secret: str  # a nonce in every token of this reader; a new one voids the old links

    @property
    def mailbox(self) -> str:
        """``Name <address>``, or the address alone, as a To header shows it."""
        return f'"{quote(self.name)}" <{self.address}>' if self.name else self.address


class Entry(NamedTuple):
    """A reader to add: a checked bare address, a clean name, a status, since when."""

    address: str
    name: str
    status: str
    consent_at: str | None


def clean_name(name: str) -> str:
    """A display name as the book keeps it: one line, no control characters, 100 at most."""
    if name.isprintable() and len(name) <= 100 and "  " not in name and name == name.strip():
        return name  # already so (most are): no need to rebuild it
    return " ".join(CONTROLS.sub(" ", name).split())[:100]


def new_secret() -> str:
    return secrets.token_hex(8)


def _reader(row: tuple[object, ...]) -> Reader:
    return Reader(*row)  # type: ignore[arg-type]


def find(state: State, address: str) -> Reader | None:
    """The reader with this mailbox (any spelling of its case), if the book has one."""
    row = state.reader_by_key(mailbox_key(address))
    return _reader(row) if row else None


def get(state: State, reader_id: int) -> Reader | None:
    row = state.reader_by_id(reader_id)
    return _reader(row) if row else None


def add(
    state: State,
    value: str,
    *,
    source: str,
    now: str,
    name: str | None = None,
    status: str = "active",
    consent_at: str | None = None,
) -> tuple[Reader, bool]:
    """Add a reader (``value`` is ``addr`` or ``Name <addr>``; ValueError if invalid).

    An address already in the book keeps its status: a suppressed one is not made active
    again. The second value says whether a row was added.
    """
    display, address = split_mailbox(value)
    name = clean_name(name if name is not None else display)
    added = state.add_reader(
        {
            "address": address,
            "key": mailbox_key(address),
            "name": name,
            "status": status,
            "source": source,
            "consent_at": consent_at or now,
            "created_at": now,
            "changed_at": now,
            "secret": new_secret(),
        }
    )
    reader = find(state, address)
    assert reader is not None
    return reader, bool(added)


def _nonces(text: str) -> Iterator[str]:
    """A new secret (:func:`new_secret`) each, cut from one long random hex string."""
    return (text[i : i + 16] for i in range(0, len(text), 16))


def stage(state: State, entries: list[Entry]) -> None:
    """Put readers to add aside in this connection's staging table (the book is not
    touched, nor locked): :func:`add_staged` adds them, :func:`unstage` forgets them."""
    nonces = secrets.token_hex(8 * len(entries))  # one system call for the batch
    state.stage_readers(
        (e.address, mailbox_key(e.address), e.name, e.status, e.consent_at, nonce)
        for e, nonce in zip(entries, _nonces(nonces), strict=True)
    )


def unstage(state: State) -> None:
    state.unstage_readers()


class Outcomes(NamedTuple):
    """What adding a batch did, per status: readers added with it, readers set to it now
    (a refusal), refusals the batch did not undo; and how many rows the batch held."""

    rows: int
    new: Counter[str]
    changed: Counter[str]
    kept: Counter[str]


def add_staged(
    state: State, batch: int, *, source: str, reason: str, now: str
) -> Iterator[Outcomes]:
    """Add the staged readers, ``batch`` at a time, each batch in its own transaction, as
    :func:`add` would one by one: an address already in the book keeps its status, but an
    entry that says it unsubscribed, bounced or complained suppresses it (``reason``).

    Set-wise statements, so the book's checks run once per batch, not once per row (SQLite
    builds each ``IN (...)`` list anew for every statement run).
    """
    rows = state.staged_readers()
    for first in range(1, rows + 1, batch):
        span = (first, min(first + batch, rows + 1) - 1)
        new, changed, kept = state.add_staged_readers(span, source, reason, now)
        yield Outcomes(span[1] - span[0] + 1, Counter(new), Counter(changed), Counter(kept))


def set_status(state: State, reader_id: int, status: str, reason: str, now: str) -> bool:
    """Change a reader's status (unsubscribe, bounce, complaint); False if it was already so."""
    return state.set_reader_status(reader_id, status, reason, now)


def unsubscribe(state: State, reader_id: int, reason: str, now: str) -> bool:
    """The reader asked to leave: unsubscribed, unless already suppressed (a bounce or a
    complaint is kept as it is: it says more, and they get no mail either way)."""
    return state.unsubscribe_reader(reader_id, reason, now)


def take_leaving(state: State, queue: LeavingQueue) -> int:
    """Move the unsubscribes waiting in the queue into the book (one transaction); how many
    there were. Raises StateError while another process holds the write lock."""
    waiting = queue.waiting()
    if not waiting:
        return 0
    with state.write_lock():
        for reader_id, reason, asked_at in waiting:
            unsubscribe(state, reader_id, reason, asked_at)
    queue.remove([reader_id for reader_id, _, _ in waiting])
    return len(waiting)


def confirm(state: State, reader_id: int, now: str) -> bool:
    """The reader confirmed a subscription: active from now, with a new secret (so links
    from an earlier subscription stay void). Only a reader still waiting to be confirmed,
    or one who left and asked again, is made active: never a bounced or complained one."""
    return state.confirm_reader(reader_id, now, new_secret())


def sync_config(state: State, entries: Iterable[str], now: str) -> None:
    """Make the book hold the config's readers (``recipients``, ``recipients_file``).

    New ones come in active (source config); a config reader no longer listed stops
    getting the digest but keeps its row; suppressed readers stay suppressed.
    """

    def rows() -> Iterator[dict[str, object]]:
        for entry in entries:
            name, address = split_mailbox(entry)
            yield {
                "address": address,
                "key": mailbox_key(address),
                "name": clean_name(name),
                "consent_at": now,
                "created_at": now,
                "changed_at": now,
                "secret": new_secret(),
            }

    state.sync_config_readers(rows())


def readers(
    state: State, statuses: tuple[str, ...] = (), *, listed_only: bool = False, batch: int = 1000
) -> Iterator[Reader]:
    """Readers in book order (optionally only some statuses), streamed in batches."""
    after = 0
    while True:
        rows = state.reader_page(after, statuses, listed_only=listed_only, batch=batch)
        if not rows:
            return
        after = int(rows[-1][0])
        yield from map(_reader, rows)


def active(state: State) -> Iterator[Reader]:
    """Who gets the next issue: active readers (config ones only while listed)."""
    return readers(state, ("active",), listed_only=True)


def counts(state: State) -> dict[str, int]:
    """How many readers are in each status."""
    return state.reader_counts()
