"""Sending as real relays need it: 7-bit headers, SMTPUTF8 only where it must, the EHLO
name, the envelope sender and VERP, several connections, and refusals that are the relay's
(not the reader's) stopping the run instead of failing everyone one by one."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import Result

from newsletter_digest.config.schema import SmtpSettings
from newsletter_digest.delivery.smtp import SmtpTransport
from newsletter_digest.delivery.transport import Envelope
from smtp_helpers import Behaviour, Server, configure, statuses

Digest = Callable[..., Result]
RELAY_DENIED = "554 5.7.1 <{address}>: Relay access denied"


def readers(count: int) -> list[str]:
    return [f"r{n}@example.org" for n in range(count)]


def test_non_ascii_names_go_to_a_server_without_smtputf8(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers(smtputf8=False)
    configure(project, server.port, recipients=["José Müller <jose@example.org>", "a@exämple.org"])
    text = (project / "digest.yaml").read_text().replace("Test Weekly <", "Zoë’s Weekly <")
    (project / "digest.yaml").write_text(text)
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert sorted(server.handler.recipients()) == ["a@xn--exmple-cua.org", "jose@example.org"]
    for received in server.handler.received:
        head = received.data.split(b"\r\n\r\n")[0]
        assert all(byte < 128 for byte in head)  # 7-bit headers, RFC 2047 and IDNA
        assert "SMTPUTF8" not in " ".join(received.message.keys())
    jose = next(r for r in server.handler.received if r.rcpt_tos == ["jose@example.org"])
    assert jose.message["To"].addresses[0].display_name == "José Müller"
    assert jose.message["From"].addresses[0].display_name == "Zoë’s Weekly"


def test_a_non_ascii_user_name_fails_alone_without_smtputf8(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers(smtputf8=False)
    configure(project, server.port, recipients=["zoë@example.org", *readers(3)])
    result = digest("build")
    assert result.exit_code == 1
    assert sorted(server.handler.recipients()) == readers(3)
    assert statuses(project)["zoë@example.org"] == "failed-permanent"
    assert "SMTPUTF8" in result.output


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_relay_wide_refusal_stops_early_and_the_rest_wait(
    project: Path, digest: Digest, servers: Callable[..., Server], pipelining: bool
) -> None:
    behaviour = Behaviour(refuse_all=RELAY_DENIED, pipelining=pipelining)
    server = servers(behaviour)
    configure(project, server.port, recipients=readers(50))
    started = time.monotonic()
    result = digest("build")
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert "refused to take issue #1 for anyone: 554 5.7.1" in result.output
    assert "log in" in result.output  # the hint: credentials or relay permission
    assert result.output.count("Relay access denied") <= 1 + 20  # the reply once, examples
    assert set(statuses(project).values()) <= {"pending", "failed-temporary"}
    assert server.handler.received == []
    behaviour.refuse_all = None  # the user fixes the relay's permission
    resumed = digest("send")
    assert resumed.exit_code == 0, resumed.output
    assert Counter(server.handler.recipients()) == Counter(readers(50))


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_refused_sender_stops_at_the_first_reader(
    project: Path, digest: Digest, servers: Callable[..., Server], pipelining: bool
) -> None:
    refusal = "553 5.7.1 <news@example.org>: Sender rejected"
    server = servers(Behaviour(refuse_sender=refusal, pipelining=pipelining))
    configure(project, server.port, recipients=readers(20))
    result = digest("build")
    assert result.exit_code == 1
    assert "Sender rejected" in result.output and "sender" in result.output.split("hint:")[1]
    assert set(statuses(project).values()) <= {"pending", "failed-temporary"}


@pytest.mark.parametrize("pipelining", [True, False])
def test_unknown_users_after_a_success_are_their_own_failures(
    project: Path, digest: Digest, servers: Callable[..., Server], pipelining: bool
) -> None:
    unknown = {f"r{n}@example.org": "550 5.1.1 <x>: unknown user" for n in range(1, 5)}
    server = servers(Behaviour(refuse=unknown, pipelining=pipelining))
    configure(project, server.port, recipients=readers(8))
    result = digest("build")
    assert result.exit_code == 0, result.output  # hard bounces: handled, the readers bounced
    assert "4 bounced" in result.output
    assert "refused to take issue" not in result.output  # the run went on
    got = statuses(project)
    assert [got[r] for r in unknown] == ["failed-permanent"] * 4
    assert sorted(server.handler.recipients()) == sorted(set(readers(8)) - set(unknown))


@pytest.mark.parametrize("pipelining", [True, False])
def test_retry_failed_sends_to_permanent_failures_once_fixed(
    project: Path, digest: Digest, servers: Callable[..., Server], pipelining: bool
) -> None:
    disabled = {"r2@example.org": "550 5.2.1 mailbox disabled"}
    behaviour = Behaviour(refuse=disabled, pipelining=pipelining)
    server = servers(behaviour)
    configure(project, server.port, recipients=readers(4))
    assert digest("build").exit_code == 1
    assert digest("send").exit_code == 1  # permanent failures are not tried again...
    assert server.handler.recipients().count("r2@example.org") == 0
    behaviour.refuse.clear()
    result = digest("send", "--retry-failed")  # ...unless asked
    assert result.exit_code == 0, result.output
    assert "1 failed recipients put back in the queue" in result.output
    assert Counter(server.handler.recipients()) == Counter(readers(4))


def test_several_connections_send_each_reader_once(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(project, server.port, smtp="connections: 4", recipients=readers(60))
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert server.handler.connections == 4
    assert Counter(server.handler.recipients()) == Counter(readers(60))
    assert set(statuses(project).values()) == {"sent"}


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_421_mid_send_reconnects(
    project: Path, digest: Digest, servers: Callable[..., Server], pipelining: bool
) -> None:
    server = servers(Behaviour(drop_after=3, pipelining=pipelining))
    configure(project, server.port, smtp="connections: 2", recipients=readers(20))
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert server.handler.connections >= 7  # 20 messages, 3 a connection
    assert Counter(server.handler.recipients()) == Counter(readers(20))


def test_killed_mid_send_with_four_connections_loses_nobody_and_repeats_nobody(
    project: Path, servers: Callable[..., Server]
) -> None:
    server = servers()
    everyone = readers(40)
    configure(project, server.port, smtp="connections: 4\nrate: 20", recipients=everyone)
    command = [sys.executable, "-m", "newsletter_digest", "--config", str(project / "digest.yaml")]
    subprocess.run([*command, "build", "--no-send"], check=True, capture_output=True)
    child = subprocess.Popen([*command, "send"], stdout=subprocess.DEVNULL, env=os.environ)
    assert server.handler.wait_for(12)
    time.sleep(0.02)  # between messages: the pacer holds every connection
    child.send_signal(signal.SIGKILL)
    child.wait()
    got = len(server.handler.received)
    assert 12 <= got < 40
    assert sum(status == "sent" for status in statuses(project).values()) == got
    resumed = subprocess.run([*command, "send"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert Counter(server.handler.recipients()) == Counter(everyone)


def test_the_ehlo_name_and_the_envelope_sender_are_configurable(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    smtp = "helo: mail.example.org\nreturn_path: bounces@example.org"
    configure(project, server.port, smtp=smtp, recipients=readers(3))
    assert digest("build").exit_code == 0
    assert set(server.handler.helo_names) == {"mail.example.org"}
    assert {r.mail_from for r in server.handler.received} == {"bounces@example.org"}
    message = message_from_bytes(server.handler.received[0].data, policy=policy.default)
    assert message["From"].addresses[0].addr_spec == "news@example.org"  # From unchanged


def test_the_default_ehlo_name_is_the_fully_qualified_one(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(project, server.port, recipients=readers(1))
    assert digest("build").exit_code == 0
    assert server.handler.helo_names == [socket.getfqdn()]


def test_verp_gives_each_reader_an_opaque_envelope_sender(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(
        project, server.port, smtp="verp: true\nreturn_path: b@example.org", recipients=readers(5)
    )
    assert digest("build").exit_code == 0
    senders = {r.rcpt_tos[0]: r.mail_from for r in server.handler.received}
    assert all(re.fullmatch(r"b\+[0-9a-f]{16}@example\.org", s) for s in senders.values())
    assert len(set(senders.values())) == 5
    assert not any(reader.split("@")[0] in s for reader, s in senders.items())
    db = sqlite3.connect(project / ".digest" / "state.db")
    tokens = dict(db.execute("SELECT recipient, token FROM deliveries").fetchall())
    db.close()
    assert {r: f"b+{t}@example.org" for r, t in tokens.items()} == senders


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_every_connection_sets_tcp_nodelay(
    servers: Callable[..., Server], server_tls: object, ca_file: Path, security: str
) -> None:
    tls = {"starttls": server_tls} if security == "starttls" else {}
    server = servers(**tls)
    settings = SmtpSettings(
        host="127.0.0.1" if security == "none" else "localhost",
        port=server.port,
        security=security,  # type: ignore[arg-type]
        ca_file=ca_file,
    )
    with SmtpTransport(settings, None) as transport:
        outcome = transport.send(
            b"Subject: x\r\n\r\nx\r\n", Envelope("a@example.org", ("b@x.org",))
        )
        assert outcome.verdict == "sent"
        sock = transport._conn.sock  # type: ignore[union-attr]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.mark.parametrize("pipelining", [True, False])
def test_pipelining_is_used_when_offered(
    servers: Callable[..., Server], monkeypatch: pytest.MonkeyPatch, pipelining: bool
) -> None:
    """With PIPELINING, MAIL, RCPT and DATA go out in one write: smtplib's one-command
    calls are not used (they would each wait for their reply)."""
    import smtplib

    calls: list[str] = []
    original_mail = smtplib.SMTP.mail

    def mail(self: smtplib.SMTP, *args: object, **kwargs: object) -> tuple[int, bytes]:
        calls.append("mail")
        return original_mail(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(smtplib.SMTP, "mail", mail)
    server = servers(Behaviour(pipelining=pipelining))
    settings = SmtpSettings(host="127.0.0.1", port=server.port, security="none")
    body = b"Subject: x\r\n\r\n.leading dot\r\nend\r\n"
    with SmtpTransport(settings, None) as transport:
        for n in range(3):
            envelope = Envelope("a@example.org", (f"b{n}@example.org",))
            assert transport.send(body, envelope).verdict == "sent"
    assert calls == ([] if pipelining else ["mail"] * 3)
    assert [r.rcpt_tos for r in server.handler.received] == [
        [f"b{n}@example.org"] for n in range(3)
    ]
    assert all(b"\r\n.leading dot\r\n" in r.data for r in server.handler.received)


def test_a_sender_refused_at_rcpt_bounces_nobody(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    """Postfix with smtpd_delay_reject answers a refused sender at RCPT, with 5.1.8."""
    server = servers(Behaviour(refuse_all="553 5.1.8 <news@example.org>: Sender address rejected"))
    configure(project, server.port, recipients=readers(5))
    result = digest("build")
    assert result.exit_code == 1 and "refused to take issue" in result.output
    assert set(statuses(project).values()) <= {"pending", "failed-temporary"}
    db = sqlite3.connect(project / ".digest" / "state.db")
    kept = dict(db.execute("SELECT address, status FROM readers").fetchall())
    db.close()
    assert set(kept.values()) == {"active"}  # nobody suppressed for the relay's refusal


def test_unknown_users_at_the_start_do_not_stop_the_run(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    unknown = {f"r{n}@example.org": f"550 5.1.1 <r{n}@example.org>: User unknown" for n in range(4)}
    server = servers(Behaviour(refuse=unknown))
    configure(project, server.port, recipients=readers(8))
    result = digest("build")
    assert "refused to take issue" not in result.output
    assert sorted(server.handler.recipients()) == readers(8)[4:]
    db = sqlite3.connect(project / ".digest" / "state.db")
    kept = dict(db.execute("SELECT address, status FROM readers").fetchall())
    db.close()
    assert [kept[r] for r in unknown] == ["bounced"] * 4
