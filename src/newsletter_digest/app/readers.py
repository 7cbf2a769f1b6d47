"""The use cases of `digest readers`: list, add, remove, import and export the reader book.

Each opens the state and first syncs the config's own readers (``recipients``,
``recipients_file``) into the book, so what it shows or changes is the book a send uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from newsletter_digest.clock import stamp
from newsletter_digest.config.loading import Config
from newsletter_digest.errors import ContentError, DigestError
from newsletter_digest.readers import book, csvio
from newsletter_digest.readers.book import Reader
from newsletter_digest.state.store import State, open_state


class ReaderError(DigestError):
    """A reader command cannot do what was asked (bad address, unreadable file)."""


@contextmanager
def _book(config: Config) -> Iterator[State]:
    """The config's state, with the config's own readers synced into the book."""
    with open_state(config.settings.state) as state:
        book.sync_config(state, config.iter_recipients(), stamp())
        yield state


def _statuses(status: str | None) -> tuple[str, ...]:
    return (status,) if status else ()


@dataclass(frozen=True)
class Listed:
    """How many readers were shown, and how many the book holds in each status."""

    shown: int
    counts: dict[str, int]


def list_readers(config: Config, status: str | None, each: Callable[[Reader], None]) -> Listed:
    """Hand every reader (only those in ``status``, if given) to ``each``, in book order,
    streamed (a book of a million readers is never held at once)."""
    shown = 0
    with _book(config) as state:
        for reader in book.readers(state, _statuses(status)):
            each(reader)
            shown += 1
        return Listed(shown, book.counts(state))


@dataclass(frozen=True)
class Added:
    """The reader as the book has them, and whether this added them."""

    reader: Reader
    new: bool


def add_reader(config: Config, address: str, name: str | None) -> Added:
    """Add a reader (source cli). A reader who unsubscribed, bounced or complained is not
    re-added: a ReaderError says so; one already there is left as they are."""
    with _book(config) as state:
        try:
            reader, new = book.add(state, address, name=name, source="cli", now=stamp())
        except ValueError as e:
            hint = "write it as user@example.org or 'Name <user@example.org>'"
            raise ReaderError(str(e), hint) from e
    if not new and reader.status in book.SUPPRESSED:
        raise ReaderError(
            f"{reader.address} is {reader.status} ({reader.changed_at}) and stays so",
            "only the reader can subscribe again, through the confirmed subscribe form",
        )
    return Added(reader, new)


@dataclass(frozen=True)
class Removed:
    """The reader unsubscribed, and whether they were unsubscribed already."""

    reader: Reader
    already: bool


def remove_reader(config: Config, address: str) -> Removed:
    """Unsubscribe a reader; the row stays, so the address stays suppressed."""
    with _book(config) as state:
        reader = book.find(state, address)
        if reader is None:
            raise ReaderError(f"{address} is not a reader", "'digest readers list' shows them")
        changed = book.set_status(
            state, reader.id, "unsubscribed", "removed by the sender", stamp()
        )
    return Removed(reader, not changed)


@dataclass(frozen=True)
class ReadersImported:
    """What an import did to the book, per status: readers added with it (``new``),
    readers set to it now (``changed``, a refusal), refusals the file did not undo
    (``kept``); readers already there as the file has them; rows skipped."""

    file: Path
    new: dict[str, int]
    changed: dict[str, int]
    kept: dict[str, int]
    unchanged: int
    skipped: int

    @property
    def added(self) -> int:
        """How many readers are new in the book."""
        return sum(self.new.values())


def import_readers(
    config: Config,
    file: Path,
    on_problem: csvio.Problem,
    progress: csvio.Progress,
) -> ReadersImported:
    """Add the readers of a CSV export (Mailchimp, listmonk, or email,name,status,created);
    each bad row goes to ``on_problem`` with its line, the bytes read to ``progress``."""
    with _book(config) as state:
        try:
            report = csvio.import_file(state, file, stamp(), on_problem, progress)
        except OSError as e:
            hint = "export the list as UTF-8 CSV with a header row"
            raise ContentError(f"cannot import {file}: {e}", hint) from e
    return ReadersImported(
        file,
        dict(report.new),
        dict(report.changed),
        dict(report.kept),
        report.unchanged,
        report.skipped,
    )


@dataclass(frozen=True)
class Exported:
    """The file written and how many readers it holds."""

    file: Path
    count: int


def export_readers(config: Config, file: Path, status: str | None) -> Exported:
    """Write the book (or the readers in ``status``) to ``file`` as CSV."""
    with _book(config) as state:
        return Exported(file, csvio.export_file(state, file, _statuses(status)))
