"""The store's methods for readers and what concerns them: the reader book, welcomes,
what came back from the inbox, and the content sources (a part of :class:`State`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from newsletter_digest.state import inbox, readers, sources, welcomes
from newsletter_digest.state.database import Database
from newsletter_digest.state.sources import SourceRow

__all__ = ["ReaderBook", "SourceRow"]


class ReaderBook(Database):
    """Readers, welcomes, inbox and sources, read and written one step at a time."""

    def reader_by_key(self, key: str) -> tuple[Any, ...] | None:
        """The reader row with this mailbox key (see ``readers.book``), if any."""
        with self._unit() as conn:
            return readers.by_key(conn, key)

    def reader_by_id(self, reader_id: int) -> tuple[Any, ...] | None:
        with self._unit() as conn:
            return readers.by_id(conn, reader_id)

    def add_reader(self, values: Mapping[str, Any]) -> bool:
        """Add a reader unless their mailbox key is in the book (holding the write lock)."""
        with self.write_lock(), self._unit() as conn:
            return readers.add(conn, values)

    def stage_readers(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Put readers to add aside in this connection's staging table, in one
        transaction that locks nothing: the book is not touched. Each row is (address,
        mailbox key, name, status, consent_at, secret)."""
        with self.deferred(), self._unit() as conn:
            readers.stage(conn, rows)

    def unstage_readers(self) -> None:
        with self._unit() as conn:
            readers.unstage(conn)

    def staged_readers(self) -> int:
        """How many readers are staged; the connection readied for adding them."""
        with self._unit() as conn:
            if conn.dialect.name == "sqlite":
                # Up to 64 MiB of pages cached (not SQLite's 2 MiB), so the book's key
                # index stays in memory while a large import adds to it.
                conn.exec_driver_sql("PRAGMA cache_size = -65536")
            return readers.staged(conn)

    def add_staged_readers(
        self, span: tuple[int, int], source: str, reason: str, now: str
    ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """Add staged readers ``span`` (first, last) in one locked transaction: per status,
        readers added, readers refused now, refusals kept."""
        with self.write_lock(), self._unit() as conn:
            return readers.add_span(conn, span, source, reason, now)

    def set_reader_status(self, reader_id: int, status: str, reason: str, now: str) -> bool:
        """Change a reader's status; False if it was already so."""
        with self._unit() as conn:
            return readers.set_status(conn, reader_id, status, reason, now)

    def unsubscribe_reader(self, reader_id: int, reason: str, now: str) -> bool:
        """Unsubscribed, unless already suppressed; whether the reader changed."""
        with self._unit() as conn:
            return readers.unsubscribe(conn, reader_id, reason, now)

    def confirm_reader(self, reader_id: int, now: str, secret: str) -> bool:
        """Active from now with a new secret, if waiting or unsubscribed; whether so."""
        with self._unit() as conn:
            return readers.confirm(conn, reader_id, now, secret)

    def sync_config_readers(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The config's readers listed (new ones active), other config readers unlisted."""
        with self.write_lock(), self._unit() as conn:
            readers.sync_config(conn, rows)

    def reader_page(
        self, after: int, statuses: tuple[str, ...] = (), *, listed_only: bool, batch: int
    ) -> list[tuple[Any, ...]]:
        """Up to ``batch`` reader rows after id ``after``, in book order."""
        with self._unit() as conn:
            return readers.page(conn, after, statuses, listed_only, batch)

    def reader_counts(self) -> dict[str, int]:
        """How many readers are in each status."""
        with self._unit() as conn:
            return readers.counts(conn)

    def claim_welcome(self, reader_id: int, message_id: str, now: str) -> bool:
        """Claim the reader's welcome (its own transaction); False if claimed before."""
        with self.write_lock(), self._unit() as conn:
            return welcomes.claim(conn, reader_id, message_id, now)

    def welcome_sent(self, reader_id: int, reply: str, now: str) -> None:
        with self._unit() as conn:
            welcomes.sent(conn, reader_id, reply, now)

    def release_welcome(self, reader_id: int) -> None:
        with self._unit() as conn:
            welcomes.release(conn, reader_id)

    def welcome_sent_at(self, reader_id: int) -> str | None:
        with self._unit() as conn:
            return welcomes.sent_at(conn, reader_id)

    def inbox_seen(self, key: str) -> bool:
        """Whether the inbox message with this key was processed before."""
        with self._unit() as conn:
            return inbox.seen(conn, key)

    def mark_inbox_seen(self, key: str, outcome: str, processed_at: str) -> None:
        with self._unit() as conn:
            inbox.mark_seen(conn, key, outcome, processed_at)

    def soft_bounce(self, reader_id: int, day: str, reply: str) -> int:
        """Note a temporary failure on ``day``; on how many days the reader had one."""
        with self._unit() as conn:
            return inbox.soft_bounce(conn, reader_id, day, reply)

    def record_inbox_read(self, read: tuple[str, int, int, int]) -> None:
        """Keep this read of the inbox as its last (its own locked transaction)."""
        with self.write_lock(), self._unit() as conn:
            inbox.record_read(conn, read)

    def last_inbox_read(self) -> tuple[str, int, int, int] | None:
        with self._unit() as conn:
            return inbox.last_read(conn)

    def source(self, key: str) -> SourceRow | None:
        """What the state knows of the content source ``key``."""
        with self._unit() as conn:
            return sources.get(conn, key)

    def record_source_import(
        self, key: str, etag: str | None, last_modified: str | None, added: int
    ) -> None:
        with self._unit() as conn:
            sources.record_import(conn, key, etag, last_modified, added)

    def record_source_error(self, key: str, when: str, error: str) -> None:
        with self._unit() as conn:
            sources.record_error(conn, key, when, error)

    def record_source(self, key: str, row: SourceRow) -> None:
        with self._unit() as conn:
            sources.record(conn, key, row)
