"""The pickup folder: each recipient's message as its own .eml, for an MTA or another tool.

It stands in for SMTP in the send loop, so it shares the delivery log: a run that is cut
short resumes where it stopped, and a file is named after its recipient, so writing one
again after a crash replaces it instead of adding a second copy.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from types import TracebackType

from newsletter_digest.delivery.transport import Envelope, Outcome
from newsletter_digest.errors import OutboxError
from newsletter_digest.files import PRIVATE_FILE, atomic_write, private_folder

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def message_name(recipient: str) -> str:
    """A readable, stable file name for a recipient's message."""
    digest = hashlib.blake2b(recipient.encode(), digest_size=4).hexdigest()
    return f"{_UNSAFE.sub('_', recipient)[:80]}-{digest}.eml"


class PickupTransport:
    """Writes messages into ``folder`` atomically; the same interface as SmtpTransport."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.where = str(folder)

    def __enter__(self) -> PickupTransport:
        try:
            private_folder(self.folder)  # each message carries its reader's address and token
        except OSError as e:
            raise OutboxError(
                f"cannot create the pickup folder {self.folder}: {e.strerror or e}",
                "make the outbox writable",
            ) from e
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None

    def send(self, message: bytes, envelope: Envelope) -> Outcome:
        """Write one message; a disk error is a temporary failure, retried by the next run."""
        name = message_name(",".join(envelope.recipients))
        data = message
        try:
            atomic_write(self.folder / name, data, mode=PRIVATE_FILE)
        except OSError as e:
            return Outcome("connection", f"cannot write {name}: {e.strerror or e}")
        return Outcome("sent", f"written to {name}")
