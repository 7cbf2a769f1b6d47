"""The one thing the send loop knows about where messages go: a Transport.

A transport takes a complete message and its envelope and says what became of it. SMTP
(smtp.py) and the pickup folder (pickup.py) are the two behind it; the send loop, its
retries and the delivery log work the same with either.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Literal, NamedTuple, Protocol

# sent: accepted. permanent: this reader refused for good (5xx). temporary: try again later
# (4xx). connection: the transport stopped working (dropped, timed out, disk full).
# session: refused for every reader alike (the sender, the login, the HELO): stop sending.
Verdict = Literal["sent", "permanent", "temporary", "connection", "session"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: the verdict and the reply, for the delivery log."""

    verdict: Verdict
    reply: str


class Envelope(NamedTuple):
    """Who a message is from and to on the wire (MAIL FROM / RCPT TO), apart from headers."""

    sender: str
    recipients: tuple[str, ...]
    smtputf8: bool = False


class Transport(Protocol):
    """Delivers messages; opened once for a whole send (``with transport: ...``)."""

    @property
    def where(self) -> str:
        """Where messages go, for messages to the user: ``smtp.example.org:587``, a folder."""

    def __enter__(self) -> Transport:
        """Open what the transport needs for a whole send (a session, a folder)."""

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Close it, whatever ended the send."""

    def send(self, message: bytes, envelope: Envelope) -> Outcome:
        """Deliver one message; trouble comes back as an Outcome, never as an exception."""
