"""Signed links for readers: unsubscribe and confirm, verifiable after a restart.

A token carries the reader's id and the reader's current nonce, signed (itsdangerous,
HMAC-SHA1 over a key derived for each purpose) with the server key: never the address. A
new nonce (a confirmed re-subscription) voids every earlier link; a deleted or unknown
reader, a token for another purpose, or a changed character all read as "not valid",
without saying which.

A confirmation link also carries when it was made. It expires (``serve.confirm_within``), and
it works only for a reader still waiting to be confirmed, or one who left before asking
again: never for one who bounced or complained, nor one who left after it was sent.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from itsdangerous import BadSignature, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer

from newsletter_digest.errors import ConfigError
from newsletter_digest.files import PRIVATE_FILE, private_folder
from newsletter_digest.readers import book
from newsletter_digest.state.store import State

ENV_VAR = "DIGEST_SECRET"
PURPOSES = ("unsubscribe", "confirm")
CONFIRM_DAYS = 7


def server_key(state_path: Path) -> bytes:
    """The signing key: ``$DIGEST_SECRET``, else a random key in ``secret`` beside the
    state database, created on first use with mode 0600 (so links survive a restart)."""
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        if len(from_env) < 16:
            raise ConfigError(
                f"${ENV_VAR} is too short to sign links with",
                "use at least 16 random characters, e.g. the output of 'openssl rand -hex 32'",
            )
        return from_env.encode()
    path = state_path.parent / "secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    private_folder(path.parent)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


class Tokens:
    """Makes and checks readers' tokens with one server key."""

    def __init__(
        self,
        key: bytes,
        *,
        confirm_within: timedelta = timedelta(days=CONFIRM_DAYS),
        clock: Callable[[], float] = time.time,
    ) -> None:
        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._confirm_age = int(confirm_within.total_seconds())
        self._unsubscribe = URLSafeSerializer(key, salt="digest-unsubscribe")
        # A new salt: confirmation links from before they expired are void, as expired ones.
        self._confirm = URLSafeTimedSerializer(key, salt="digest-confirm-timed", signer=Signer)

    def make(self, reader: book.Reader, purpose: str) -> str:
        """A token for ``reader`` that only ``purpose`` accepts."""
        signer = self._unsubscribe if purpose == "unsubscribe" else self._confirm
        return str(signer.dumps([reader.id, reader.secret]))

    def reader(self, state: State, token: str, purpose: str) -> book.Reader | None:
        """The reader the token was made for, if it is valid now; None otherwise."""
        if len(token) > 200:
            return None
        made: datetime | None = None
        try:
            if purpose == "unsubscribe":
                payload = self._unsubscribe.loads(token)
            else:
                payload, made = self._confirm.loads(
                    token, max_age=self._confirm_age, return_timestamp=True
                )
        except BadSignature:  # a changed character, another purpose, or expired
            return None
        reader = _payload_reader(state, payload)
        if reader is None or (made is not None and not _may_confirm(reader, made)):
            return None
        return reader


def _payload_reader(state: State, payload: object) -> book.Reader | None:
    """The reader a signed payload names, if it is in the book with that nonce still."""
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not isinstance(payload[0], int)
        or not isinstance(payload[1], str)
    ):
        return None
    reader = book.get(state, payload[0])
    if reader is None or not hmac.compare_digest(reader.secret, payload[1]):
        return None
    return reader


def _may_confirm(reader: book.Reader, made: datetime) -> bool:
    """A confirmation acts on a reader still unconfirmed, or on one who had left when the
    link was made (they asked again); a reader who left later, bounced or complained
    keeps their status."""
    if reader.status == "unconfirmed":
        return True
    if reader.status != "unsubscribed":
        return False
    try:
        left = datetime.fromisoformat(reader.changed_at).astimezone()
    except ValueError:
        return False
    return left <= made
