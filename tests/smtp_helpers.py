"""A real SMTP server on 127.0.0.1 (aiosmtpd) whose behaviour each test can set."""

from __future__ import annotations

import socket
import sqlite3
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Behaviour:
    """What the server does: refuse, defer, drop connections, check logins."""

    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> 5xx reply
    defer: dict[str, int] = field(default_factory=dict)  # recipient -> times to answer 451
    drop_after: int | None = None  # messages per connection before it is closed
    login: tuple[str, str] | None = None
    refuse_all: str | None = None  # RCPT reply for everyone; {address} is filled in
    refuse_sender: str | None = None  # MAIL FROM reply
    pipelining: bool = True  # offer RFC 2920 PIPELINING (aiosmtpd reads commands in order)


class Handler:
    """Records accepted messages; applies the Behaviour."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.per_connection: dict[int, int] = {}
        self.connections = 0
        self.helo_names: list[str] = []
        self.arrived = threading.Condition()

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> Any:
        session.host_name = hostname
        self.helo_names.append(hostname)
        if self.behaviour.pipelining:
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        if id(session) not in self.per_connection:
            self.per_connection[id(session)] = 0
            self.connections += 1
        return responses

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        limit = self.behaviour.drop_after
        if limit is not None and self.per_connection.get(id(session), 0) >= limit:
            assert server.transport is not None
            server.transport.close()
            return "421 4.7.0 too many messages on this connection"
        if self.behaviour.refuse_sender is not None:
            return self.behaviour.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.behaviour.refuse:
            return self.behaviour.refuse[address]
        if self.behaviour.refuse_all is not None:
            return self.behaviour.refuse_all.format(address=address)
        if self.behaviour.defer.get(address, 0) > 0:
            self.behaviour.defer[address] -= 1
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert envelope.mail_from is not None and isinstance(envelope.content, bytes)
        with self.arrived:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
            self.per_connection[id(session)] = self.per_connection.get(id(session), 0) + 1
            self.arrived.notify_all()
        return "250 2.0.0 queued"

    def wait_for(self, count: int, timeout: float = 20.0) -> bool:
        """Block until ``count`` messages have arrived."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= count, timeout)

    def recipients(self) -> list[str]:
        return [r for message in self.received for r in message.rcpt_tos]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A running aiosmtpd on 127.0.0.1 and the handler that records what it got."""

    def __init__(
        self,
        behaviour: Behaviour,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        smtputf8: bool = True,
        auth_require_tls: bool = True,
    ) -> None:
        self.handler = Handler(behaviour)
        self.port = free_port()
        kwargs: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "port": self.port,
            "enable_SMTPUTF8": smtputf8,
            "auth_require_tls": auth_require_tls,
            "ident": "test-smtpd",
        }
        if starttls is not None:
            kwargs["tls_context"] = starttls
        if implicit_tls is not None:
            kwargs["ssl_context"] = implicit_tls
        if behaviour.login is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
        self.controller = Controller(self.handler, **kwargs)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        expected = self.handler.behaviour.login
        ok = (
            isinstance(data, LoginPassword)
            and expected is not None
            and (data.login.decode(), data.password.decode()) == expected
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> Server:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class SilentServer:
    """Accepts TCP connections and never says a word (to make client timeouts fire)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()


READERS = [f"reader{n}@example.org" for n in range(1, 6)]


def configure(project: Path, port: int, smtp: str = "", recipients: list[str] = READERS) -> None:
    """Point the test project at the server; fast retries so tests stay quick."""
    lines = [
        'title: "Test Weekly"',
        'sender: "Test Weekly <news@example.org>"',
        "per_issue: 2",
        'unsubscribe: "https://example.org/unsubscribe?email={email}"',
        "recipients:",
        *[f"  - {r!r}" for r in recipients],
        "smtp:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        "  retries: 2",
        "  retry_delay: 10ms",
        "  timeout: 5s",
    ]
    text = "\n".join(lines) + "\n"
    if smtp:
        text += "".join(f"  {line}\n" for line in smtp.strip().splitlines())
    if "security:" not in smtp:
        text += "  security: none\n"
    (project / "digest.yaml").write_text(text, encoding="utf-8")


def statuses(project: Path, issue: int = 1) -> dict[str, str]:
    db = sqlite3.connect(project / ".digest" / "state.db")
    rows = db.execute(
        "SELECT recipient, status FROM deliveries WHERE issue_number = ?", (issue,)
    ).fetchall()
    db.close()
    return dict(rows)
