"""An IMAP account as a mailbox (imaplib over TLS, the certificate and host verified).

Messages are fetched with BODY.PEEK (nothing marked read); a processed one is moved to the
``processed`` folder (UID MOVE where the server offers it, else copy, flag deleted and
expunge), so the next run does not see it again.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import ssl
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from newsletter_digest.config.schema import ImapSettings
from newsletter_digest.inbox.classify import MAX_BYTES
from newsletter_digest.inbox.mailboxes import InboxError, Item, message_key

_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapMailbox:
    """One logged-in IMAP session on the configured folder."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._conn: imaplib.IMAP4_SSL | None = None

    def __enter__(self) -> ImapMailbox:
        s = self.settings
        password = os.environ.get(s.password_env)
        if not password:
            raise InboxError(
                f"inbox.password_env: ${s.password_env} is empty",
                f"export {s.password_env} with the IMAP password before reading the inbox",
            )
        context = ssl.create_default_context()
        if s.ca_file is not None:
            context.load_verify_locations(cafile=s.ca_file)
        try:
            self._conn = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=context, timeout=30)
            self._conn.login(s.user, password)
            self._check(self._conn.select(self._quote(s.folder)), f"select {s.folder}")
        except ssl.SSLCertVerificationError as e:
            raise InboxError(
                f"the TLS certificate of {s.host} is not trusted: {e.verify_message}",
                "if the server uses a private CA, set inbox.ca_file to its certificate (PEM)",
            ) from e
        except (OSError, imaplib.IMAP4.error) as e:
            raise InboxError(
                f"cannot read the IMAP inbox {s.user}@{s.host}:{s.port}: {e}",
                "check inbox.host, inbox.user, the password and inbox.folder",
            ) from e
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self._conn.logout()

    def items(self) -> Iterator[Item]:
        """Every message in the folder, by UID."""
        conn = self._live()
        found_uids = self._check(conn.uid("SEARCH", "ALL"), "search")[0]
        uids = found_uids.decode().split() if isinstance(found_uids, bytes) else []
        for uid in uids:
            size = self._check(conn.uid("FETCH", uid, "(RFC822.SIZE)"), "fetch size")
            found = _SIZE.search(b" ".join(p for p in size if isinstance(p, bytes)))
            if found and int(found.group(1)) > MAX_BYTES:
                yield Item(f"imap:{uid}:{found.group(1).decode()}", None, None, uid)
                continue
            data = self._check(conn.uid("FETCH", uid, "(BODY.PEEK[])"), "fetch")
            raw = next((part[1] for part in data if isinstance(part, tuple)), b"")
            yield Item(message_key(raw), raw, None, uid)

    def done(self, item: Item) -> None:
        """Move a processed message to the processed folder."""
        conn = self._live()
        target = self._quote(self.settings.processed_folder)
        conn.create(target)  # fails harmlessly when it exists
        if item.uid is None:
            return
        if "MOVE" in conn.capabilities:
            self._check(conn.uid("MOVE", item.uid, target), "move")
            return
        self._check(conn.uid("COPY", item.uid, target), "copy")
        self._check(conn.uid("STORE", item.uid, "+FLAGS.SILENT", r"(\Deleted)"), "flag")
        conn.expunge()

    def _live(self) -> imaplib.IMAP4_SSL:
        assert self._conn is not None, "use ImapMailbox as a context manager"
        return self._conn

    @staticmethod
    def _quote(folder: str) -> str:
        return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def _check(self, response: tuple[str, list[Any]], what: str) -> list[Any]:
        status, data = response
        if status != "OK":
            raise InboxError(
                f"the IMAP server refused to {what}: {data!r:.200}",
                "check inbox.folder and the account's permissions",
            )
        return data
