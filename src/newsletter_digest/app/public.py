"""The public side's use cases (what ``digest serve`` does for strangers and readers):
check a link, unsubscribe (into the book, or the durable leaving queue while a build holds
the book's lock), confirm, subscribe, mail a confirmation or a welcome, the health check,
and the archive's files. Each owns its steps and state writes and returns a frozen result;
the web adapter only parses requests and presents these results.

Every function here blocks (SQLite, SMTP, disk): callers on an event loop run them in a
worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from newsletter_digest.app.welcome import send_welcome
from newsletter_digest.clock import local_now, stamp
from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.send import send_notice
from newsletter_digest.errors import StateError
from newsletter_digest.mail import notices
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.leaving import LeavingQueue, queue_path
from newsletter_digest.state.store import open_state

ONE_CLICK = "one-click unsubscribe"
"""The reason recorded for an unsubscribe from a link (RFC 8058's POST or the button)."""
WRITE_WAIT = 2.0
"""Seconds an unsubscribe waits for the book's write lock before it is queued instead."""
_ISSUE = re.compile(r"issue-\d{4,}")


@dataclass(frozen=True, slots=True)
class Public:
    """What the public use cases of one config share: the config, the link signer and the
    public archive folder (resolved once; never the outbox)."""

    config: Config
    tokens: Tokens
    archive: Path

    @property
    def state(self) -> Path:
        """The state database's path."""
        return self.config.settings.state


def open_public(config: Config) -> Public:
    """The public side of ``config`` (creates the signing key beside the state if missing)."""
    s = config.settings
    tokens = Tokens(server_key(s.state), confirm_within=s.serve.confirm_within)
    return Public(config, tokens, s.archive.folder.resolve())


@dataclass(frozen=True, slots=True)
class LinkReader:
    """The reader a valid link names: the id (for logs) and the address (for -v logs only)."""

    id: int
    address: str


def check_link(public: Public, token: str, purpose: str) -> LinkReader | None:
    """The reader of a signed ``purpose`` link (unsubscribe or confirm); None if it is not
    valid (tampered, void, expired, for another purpose or a reader not in the book)."""
    with open_state(public.state) as db:
        reader = public.tokens.reader(db, token, purpose)
    return None if reader is None else LinkReader(reader.id, reader.address)


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """An unsubscribe on disk: in the book, or (``queued``) in the leaving queue."""

    reader_id: int
    address: str | None
    queued: bool


def unsubscribe(public: Public, reader_id: int) -> Unsubscribed:
    """Record a reader's unsubscribe (one-click or the page's button): in the book if its
    lock comes within WRITE_WAIT, else in the durable queue (a build holds the lock), which
    the book takes in later and every send reads. Either way on disk when this returns."""
    try:
        with open_state(public.state, busy_timeout=WRITE_WAIT) as db:
            book.unsubscribe(db, reader_id, ONE_CLICK, stamp())
            reader = book.get(db, reader_id)
        return Unsubscribed(reader_id, reader.address if reader else None, queued=False)
    except StateError:
        with LeavingQueue(public.state) as queue:
            queue.add(reader_id, ONE_CLICK, stamp())
        return Unsubscribed(reader_id, None, queued=True)


def take_leaving(public: Public) -> int:
    """Move queued unsubscribes into the book; how many (0 while the lock is still held)."""
    if not queue_path(public.state).exists():
        return 0
    try:
        with (
            LeavingQueue(public.state) as queue,
            open_state(public.state, busy_timeout=WRITE_WAIT) as db,
        ):
            return book.take_leaving(db, queue)
    except StateError:
        return 0


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A confirmation pressed: ``confirmed`` False when the reader bounced, complained or
    was confirmed since the link was checked."""

    reader_id: int
    confirmed: bool


def confirm(public: Public, reader_id: int) -> Confirmed:
    """Make a reader who confirmed active. StateError while the book stays locked."""
    with open_state(public.state) as db:
        return Confirmed(reader_id, book.confirm(db, reader_id, stamp()))


@dataclass(frozen=True, slots=True)
class SignedUp:
    """A sign-up recorded: the reader as the book has them now, whether they are new, and
    the confirmation to mail (None: none is due, or one went to this address lately)."""

    reader: LinkReader
    added: bool
    status: str
    mailbox: str
    confirm_link: str | None


def subscribe(public: Public, address: str, name: str, may_mail: Callable[[str], bool]) -> SignedUp:
    """Add the address as unconfirmed (double opt-in). A confirmation is due for a reader
    waiting for one or who left, never one who bounced, complained or is subscribed, and
    only when ``may_mail`` allows the address (a limit per address). ValueError: not an
    address; StateError: the book stays locked."""
    with open_state(public.state) as db:
        reader, added = book.add(
            db, address, name=name, source="form", now=stamp(), status="unconfirmed"
        )
    due = reader.status in ("unconfirmed", "unsubscribed")
    link = None
    if due and may_mail(reader.address.casefold()):
        token = public.tokens.make(reader, "confirm")
        link = f"{public.config.settings.base_url}/confirm/{token}"
    return SignedUp(
        LinkReader(reader.id, reader.address), added, reader.status, reader.mailbox, link
    )


@dataclass(frozen=True, slots=True)
class Mailed:
    """Whether a message to a reader went out, and what the relay (or the folder) said."""

    sent: bool
    reply: str


def mail_confirmation(public: Public, mailbox: str, link: str) -> Mailed:
    """The double opt-in message to ``mailbox`` with its ``link``, through the transport."""
    s = public.config.settings
    message, _ = notices.confirmation(s.title, s.sender, mailbox, link, local_now())
    outcome = send_notice(public.config, message, mailbox)
    return Mailed(outcome.verdict == "sent", outcome.reply)


def welcome(public: Public, reader_id: int) -> Mailed:
    """The welcome message (``welcome:``) to a reader who just confirmed, once per reader."""
    result = send_welcome(public.config, reader_id)
    return Mailed(result.outcome == "sent", result.reply or result.outcome)


@dataclass(frozen=True, slots=True)
class Health:
    """Whether the state database answers."""

    ok: bool
    problem: str = ""


def health(public: Public) -> Health:
    """Open the state and ask it to answer."""
    try:
        with open_state(public.state) as db:
            db.ping()
    except StateError as e:
        return Health(False, e.message)
    return Health(True)


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One file of the public archive, its media type and how long caches may keep it."""

    path: Path
    media_type: str
    max_age: int


def archive_file(public: Public, issue: str | None, *, feed: bool = False) -> ArchiveFile | None:
    """The archive's index (or ``feed``), or ``issue``'s web version (``issue-NNNN``); None
    for anything else, or a file that is missing or resolves outside the archive."""
    root = public.archive
    if issue is None:
        path = root / ("feed.xml" if feed else "index.html")
    elif _ISSUE.fullmatch(issue):
        path = root / issue / "index.html"
    else:
        return None
    if not path.is_file() or root not in path.resolve().parents:
        return None
    media = "application/atom+xml" if path.suffix == ".xml" else "text/html; charset=utf-8"
    return ArchiveFile(path, media, 86400 if issue else 300)  # an issue never changes
