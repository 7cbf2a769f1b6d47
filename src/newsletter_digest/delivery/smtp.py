"""SMTP transport: one verified connection reused for many messages, replies classified.

TLS certificates and host names are always verified; a server that does not offer STARTTLS
when it is configured is refused before any credentials are sent, never silently used in
plain text.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from types import TracebackType

from newsletter_digest.config.schema import SmtpSettings
from newsletter_digest.delivery.transport import Envelope, Outcome, Verdict
from newsletter_digest.errors import DeliveryError, shorten

# Lines starting with a dot get a second one (RFC 5321 4.5.2), as smtplib's data() does.
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _no_delay(conn: smtplib.SMTP) -> None:
    """Send each command at once: without TCP_NODELAY, Nagle's algorithm and the server's
    delayed ACK hold the small writes of every message back (about 40 ms each over TLS)."""
    sock = conn.sock
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


def _classify(code: int, message: bytes | str) -> Outcome:
    """5xx is a permanent refusal; anything else (4xx, odd codes) is worth retrying."""
    verdict: Verdict = "permanent" if 500 <= code < 600 else "temporary"
    return Outcome(verdict, _reply(code, message))


class SmtpTransport:
    """A lazily opened SMTP session; ``send`` reconnects after the server drops it."""

    def __init__(self, settings: SmtpSettings, password: str | None) -> None:
        self.settings = settings
        self._password = password
        self._helo = settings.helo or socket.getfqdn()
        self._conn: smtplib.SMTP | None = None
        self._context = ssl.create_default_context()
        if settings.ca_file is not None:
            try:
                self._context.load_verify_locations(cafile=settings.ca_file)
            except (OSError, ssl.SSLError) as e:
                raise DeliveryError(
                    f"smtp.ca_file: cannot load {settings.ca_file}: {e}",
                    "point ca_file at a PEM file with the relay's CA certificate",
                ) from e

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def where(self) -> str:
        """host:port, for messages."""
        return f"{self.settings.host}:{self.settings.effective_port}"

    def connect(self) -> None:
        """Open, secure and authenticate a session; DeliveryError says what went wrong."""
        self.close()
        try:
            self._open()
        except DeliveryError:
            self.close()
            raise
        except (OSError, smtplib.SMTPException) as e:
            self.close()
            raise self._failure(e) from e

    def _open(self) -> None:
        """Connect (TLS from the start with ``security: ssl``), EHLO, STARTTLS, login."""
        s = self.settings
        conn: smtplib.SMTP
        if s.security == "ssl":
            conn = smtplib.SMTP_SSL(
                s.host,
                s.effective_port,
                local_hostname=self._helo,
                timeout=s.timeout,
                context=self._context,
            )
        else:
            conn = smtplib.SMTP(
                s.host, s.effective_port, local_hostname=self._helo, timeout=s.timeout
            )
        self._conn = conn
        _no_delay(conn)
        code, reply = conn.ehlo()
        if code != 250:
            refused = _reply(code, reply)
            raise DeliveryError(
                f"the SMTP server {self.where} refused EHLO {self._helo}: {refused}",
                "set smtp.helo to this machine's fully qualified name (one that resolves)",
            )
        if s.security == "starttls":
            if not conn.has_extn("starttls"):
                raise DeliveryError(
                    f"the SMTP server {self.where} does not offer STARTTLS",
                    "use the server's submission port (587) or 'security: ssl' (465); "
                    "'security: none' sends in plain text and is only for local relays",
                )
            conn.starttls(context=self._context)
            _no_delay(conn)
            conn.ehlo()
        if s.username:
            if self._password is None:
                raise DeliveryError(
                    f"smtp.username is set but ${s.password_env} is empty",
                    f"export {s.password_env} with the SMTP password before sending",
                )
            conn.login(s.username, self._password)

    def _failure(self, e: OSError | smtplib.SMTPException) -> Exception:
        """What a failed connect raises: a DeliveryError that says what to fix, or a
        ConnectionError (the server could not be reached: tried again later)."""
        s = self.settings
        if isinstance(e, ssl.SSLCertVerificationError):
            return DeliveryError(
                f"the TLS certificate of {self.where} is not trusted: {e.verify_message}",
                "if the relay uses a private CA, set smtp.ca_file to its certificate (PEM)",
            )
        if isinstance(e, smtplib.SMTPAuthenticationError):
            return DeliveryError(
                f"the SMTP server {self.where} refused the login for {shorten(s.username)}: "
                f"{_reply(e.smtp_code, e.smtp_error)}",
                f"check smtp.username and the password in ${s.password_env}",
            )
        if isinstance(e, smtplib.SMTPNotSupportedError):
            return DeliveryError(
                f"the SMTP server {self.where} does not support login: {e}",
                "remove smtp.username if the server needs no login, or use another port",
            )
        return ConnectionError(f"cannot talk to {self.where}: {e or type(e).__name__}")

    def close(self) -> None:
        """Say QUIT if the session is alive; never raises."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()

    def send(self, message: bytes, envelope: Envelope) -> Outcome:
        """Send one message; connection trouble comes back as a verdict."""
        sender, recipients, smtputf8 = envelope
        data = message
        try:
            if self._conn is None:
                self.connect()
            conn = self._conn
            assert conn is not None
            if smtputf8 and not conn.has_extn("smtputf8"):
                return Outcome(
                    "permanent",
                    "the server does not support SMTPUTF8, needed for this non-ASCII address",
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"] if smtputf8 else []
            if conn.has_extn("pipelining"):
                return self._pipelined(conn, envelope, options, data)
            code, message = conn.mail(sender, options)
            if code != 250:
                return self._refused_sender(code, message)
            for recipient in recipients:  # the loop sends one reader a message
                code, message = conn.rcpt(recipient)
                if code not in (250, 251):
                    self._after_refusal(code)
                    return _classify(code, message)
            code, message = conn.data(data)
            if code != 250:
                self._after_refusal(code)
                return _classify(code, message)
            return Outcome("sent", _reply(code, message))
        except smtplib.SMTPDataError as e:
            self._after_refusal(e.smtp_code)
            return _classify(e.smtp_code, e.smtp_error)
        except (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException) as e:
            # Includes timeouts and ConnectionError from connect(): reconnect on next send.
            self.close()
            return Outcome("connection", f"connection lost: {e or type(e).__name__}")

    def _pipelined(
        self, conn: smtplib.SMTP, envelope: Envelope, options: list[str], data: bytes
    ) -> Outcome:
        """MAIL, RCPT and DATA in one write, then their replies (RFC 2920 PIPELINING): one
        round trip before the body instead of three. smtplib has no call for it, so this
        uses its own quoting, send and reply reading."""
        sender, recipients, smtputf8 = envelope
        extra = "".join(f" {option}" for option in options)
        commands = [f"MAIL FROM:{smtplib.quoteaddr(sender)}{extra}"]
        commands += [f"RCPT TO:{smtplib.quoteaddr(r)}" for r in recipients]
        commands.append("DATA")
        conn.send("".join(f"{c}\r\n" for c in commands).encode("utf-8" if smtputf8 else "ascii"))
        mail = conn.getreply()
        rcpts = [conn.getreply() for _ in recipients]
        code, message = conn.getreply()  # DATA: 354 only if MAIL and a RCPT were accepted
        if code == 354:
            if mail[0] != 250 or any(c not in (250, 251) for c, _ in rcpts):
                conn.send(b".\r\n")  # a server that took DATA anyway gets an empty message
                conn.getreply()
            else:
                body = _LEADING_DOT.sub(b"..", data)
                conn.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
                code, message = conn.getreply()
                if code == 250:
                    return Outcome("sent", _reply(code, message))
                self._after_refusal(code)
                return _classify(code, message)
        if mail[0] != 250:
            return self._refused_sender(*mail)
        refused = next(((c, m) for c, m in rcpts if c not in (250, 251)), None)
        self._after_refusal(refused[0] if refused else code)
        return _classify(*(refused or (code, message)))

    def _refused_sender(self, code: int, message: bytes) -> Outcome:
        """MAIL FROM refused: a 5xx is the same for every reader (the session's refusal)."""
        self._after_refusal(code)
        if 500 <= code < 600:
            return Outcome("session", _reply(code, message))
        return _classify(code, message)

    def _after_refusal(self, code: int) -> None:
        """Ready the session for the next message: RSET, or after 421 (the server is closing
        the connection) a new connection at the next send."""
        if code == 421:
            self.close()
        else:
            self._reset()

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self.close()
