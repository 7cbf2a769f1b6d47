"""Sending over SMTP to a real server on 127.0.0.1: every recipient once, whatever fails."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter_digest.cli import cli
from newsletter_digest.config.schema import SmtpSettings
from newsletter_digest.delivery import loop
from newsletter_digest.delivery.smtp import SmtpTransport
from newsletter_digest.delivery.transport import Envelope
from smtp_helpers import READERS, Behaviour, Server, SilentServer, configure, statuses

Digest = Callable[..., Result]


def test_build_sends_one_personal_message_per_recipient(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(project, server.port)
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "5 sent" in result.output
    assert sorted(server.handler.recipients()) == sorted(READERS)
    ids = set()
    for received in server.handler.received:
        message = received.message
        (rcpt,) = received.rcpt_tos
        assert message["To"] == rcpt
        assert received.mail_from == "news@example.org"
        assert message["List-Unsubscribe"] == (f"<https://example.org/unsubscribe?email={rcpt}>")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Id"] and message["Date"]
        assert message["Message-ID"].endswith("@example.org>")
        html = message.get_body(("html",))
        assert html is not None and f"email={rcpt}" in html.get_content()
        ids.add(message["Message-ID"])
    assert len(ids) == len(READERS)
    assert set(statuses(project).values()) == {"sent"}
    # The outbox copy is impersonal: nobody's address in its unsubscribe link.
    eml = (project / "outbox" / "issue-0001" / "issue-0001.eml").read_bytes()
    assert b"reader1@example.org" not in eml


def test_no_send_and_then_send(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(project, server.port)
    assert digest("build", "--no-send").exit_code == 0
    assert server.handler.received == []
    sent = digest("send")
    assert sent.exit_code == 0, sent.output
    assert len(server.handler.received) == 5
    again = digest("send", "1")
    assert again.exit_code == 0
    assert "0 now" in again.output
    assert len(server.handler.received) == 5  # nobody gets it twice


def test_refused_and_deferred_recipients(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    behaviour = Behaviour(
        refuse={"reader2@example.org": "550 5.1.1 no such user"},
        defer={"reader3@example.org": 10},
    )
    server = servers(behaviour)
    configure(project, server.port)
    first = digest("build")
    assert first.exit_code == 1
    assert "3 sent" in first.output and "1 failed" in first.output and "1 pending" in first.output
    assert "reader2@example.org: 550 5.1.1 no such user" in first.output
    assert "reader3@example.org: 451" in first.output
    assert "digest send 1" in first.output
    assert statuses(project)["reader2@example.org"] == "failed-permanent"
    assert statuses(project)["reader3@example.org"] == "failed-temporary"
    behaviour.defer.clear()  # the greylisting is over
    second = digest("send")
    assert second.exit_code == 0, second.output  # reader2's hard bounce is handled: bounced
    assert "1 bounced" in second.output
    assert "4 sent (1 now)" in second.output
    assert Counter(server.handler.recipients()) == Counter(
        {r: 1 for r in READERS if r != "reader2@example.org"}
    )
    history = digest("history", "1")
    assert "failed-permanent" in history.output and "550 5.1.1" in history.output
    assert "4 sent, 1 failed, 0 pending" in digest("history").output


def test_deferred_once_is_retried_within_the_run(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers(Behaviour(defer={"reader1@example.org": 1}))
    configure(project, server.port)
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert Counter(server.handler.recipients()) == Counter(READERS)


def test_server_that_drops_the_connection_after_two_messages(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers(Behaviour(drop_after=2))
    readers = [f"r{n}@example.org" for n in range(7)]
    configure(project, server.port, recipients=readers)
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert Counter(server.handler.recipients()) == Counter(readers)
    assert server.handler.connections >= 4  # it reconnected each time


def test_starttls_with_private_ca_and_auth(
    project: Path,
    digest: Digest,
    servers: Callable[..., Server],
    server_tls: ssl.SSLContext,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = servers(Behaviour(login=("digest", "s3cret")), starttls=server_tls)
    smtp = f"security: starttls\nusername: digest\nca_file: {ca_file}\nhost: localhost"
    configure(project, server.port, smtp=smtp)
    (project / "digest.yaml").write_text(
        (project / "digest.yaml").read_text().replace("  host: 127.0.0.1\n", "")
    )
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret")
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert len(server.handler.received) == 5
    assert "s3cret" not in result.output + digest("history", "1").output


def test_starttls_without_the_ca_is_refused_and_nothing_is_sent(
    project: Path, digest: Digest, servers: Callable[..., Server], server_tls: ssl.SSLContext
) -> None:
    server = servers(starttls=server_tls)
    configure(project, server.port, smtp="security: starttls")
    result = digest("build")
    assert result.exit_code == 1
    assert "not trusted" in result.output and "ca_file" in result.output
    assert server.handler.received == []
    assert set(statuses(project).values()) == {"pending"}


def test_wrong_password_is_a_clear_error(
    project: Path,
    digest: Digest,
    servers: Callable[..., Server],
    server_tls: ssl.SSLContext,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = servers(Behaviour(login=("digest", "right")), starttls=server_tls)
    configure(
        project, server.port, smtp=f"security: starttls\nusername: digest\nca_file: {ca_file}"
    )
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "Hunter2-secret")
    result = digest("build")
    assert result.exit_code == 1
    assert "refused the login" in result.output
    assert "Hunter2-secret" not in result.output


def test_missing_starttls_stops_before_credentials(
    project: Path, digest: Digest, servers: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = servers(Behaviour(login=("digest", "pw")))  # plain server, no STARTTLS offered
    configure(project, server.port, smtp="security: starttls\nusername: digest")
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "pw")
    result = digest("build")
    assert result.exit_code == 1
    assert "does not offer STARTTLS" in result.output
    assert server.handler.received == []


def test_implicit_tls(
    project: Path,
    digest: Digest,
    servers: Callable[..., Server],
    server_tls: ssl.SSLContext,
    ca_file: Path,
) -> None:
    server = servers(implicit_tls=server_tls)
    configure(project, server.port, smtp=f"security: ssl\nca_file: {ca_file}")
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert len(server.handler.received) == 5


def test_server_that_never_answers_times_out(project: Path, digest: Digest) -> None:
    silent = SilentServer()
    try:
        configure(project, silent.port, smtp="timeout: 300ms\nretries: 1")
        start = time.monotonic()
        result = digest("build")
        assert time.monotonic() - start < 10
    finally:
        silent.close()
    assert result.exit_code == 1
    assert "5 pending" in result.output
    assert "stopped answering" in result.output
    assert set(statuses(project).values()) <= {"pending", "failed-temporary"}


def test_non_ascii_address_needs_smtputf8(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    plain = servers(smtputf8=False)
    configure(project, plain.port, recipients=["zoë@example.org", "ann@example.org"])
    result = digest("build")
    assert result.exit_code == 1
    assert "SMTPUTF8" in result.output
    assert plain.handler.recipients() == ["ann@example.org"]
    modern = servers(smtputf8=True)
    configure(project, modern.port, recipients=["zoë@example.org", "ann@example.org"])
    assert digest("build", "--no-send").exit_code == 0
    result = digest("send", "2")
    assert result.exit_code == 0, result.output
    assert sorted(modern.handler.recipients()) == ["ann@example.org", "zoë@example.org"]


def test_killed_mid_send_resumes_without_duplicates(
    project: Path, servers: Callable[..., Server]
) -> None:
    server = servers()
    readers = [f"k{n}@example.org" for n in range(20)]
    configure(project, server.port, smtp="rate: 10", recipients=readers)
    config = str(project / "digest.yaml")
    command = [sys.executable, "-m", "newsletter_digest", "--config", config]
    subprocess.run([*command, "build", "--no-send"], check=True, capture_output=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([*command, "send"], env=env, stdout=subprocess.DEVNULL)
    assert server.handler.wait_for(6)
    time.sleep(0.05)  # between messages: the 6th is recorded, the pacer is waiting
    child.send_signal(signal.SIGKILL)
    child.wait()
    got = len(server.handler.received)
    assert 6 <= got < 20
    done = statuses(project)
    assert sum(status == "sent" for status in done.values()) == got
    resumed = subprocess.run([*command, "send"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert Counter(server.handler.recipients()) == Counter(readers)
    assert f"({20 - got} now)" in resumed.stdout


def test_send_without_smtp_section_says_so(digest: Digest) -> None:
    digest("build")
    result = digest("send")
    assert result.exit_code == 1
    assert "no smtp section" in result.output


def test_two_senders_at_once_the_second_one_says_so(project: Path) -> None:
    from newsletter_digest.config.loading import load_config
    from newsletter_digest.state.locks import LockedError, process_lock

    config = load_config(project / "digest.yaml")
    with (
        process_lock(config.settings.state, "send"),
        pytest.raises(LockedError, match="another digest send is running"),
        process_lock(config.settings.state, "send"),
    ):
        pass
    with process_lock(config.settings.state, "send"):
        pass  # released when the holder is done


def test_send_command_has_help() -> None:
    result = CliRunner().invoke(cli, ["send", "--help"])
    assert result.exit_code == 0 and "pending" in result.output


def test_non_ascii_recipient_and_a_server_that_is_down(project: Path, digest: Digest) -> None:
    silent = SilentServer()
    port = silent.port
    silent.close()  # nothing listens there now: connection refused
    configure(project, port, smtp="retries: 0", recipients=["jörg@example.org"])
    result = digest("build")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "1 pending" in result.output and "digest send 1" in result.output


@pytest.mark.parametrize("stop", [True, False], ids=["stopped", "running"])
def test_a_stop_during_retries_ends_them_instead_of_firing_them_back_to_back(
    servers: Callable[..., Server], stop: bool
) -> None:
    greylisted = "reader1@example.org"
    behaviour = Behaviour(defer={greylisted: 10})
    server = servers(behaviour)
    settings = SmtpSettings(
        host="127.0.0.1",
        port=server.port,
        security="none",
        username=None,
        password_env="DIGEST_SMTP_PASSWORD",
        ca_file=None,
        timeout=5,
        rate=None,
        retries=3,
        retry_delay=2.0,
    )
    sleeps: list[float] = []

    def should_stop() -> bool:
        # A SIGTERM that arrives while the server is deferring the first try.
        return stop and behaviour.defer[greylisted] < 10

    envelope = Envelope("news@example.org", (greylisted,))
    message = (b"Subject: hi\r\n\r\nHello.\r\n", envelope)
    with SmtpTransport(settings, None) as transport:
        outcome, attempts = loop.attempt(
            transport,
            (5, 0.01),
            message,
            loop.Pacer(None, sleeps.append),
            sleeps.append,
            should_stop,
        )
    assert outcome.verdict == "temporary" and outcome.reply.startswith("451")
    tries = 1 if stop else 6
    assert attempts == tries
    assert behaviour.defer[greylisted] == 10 - tries  # what the server saw
    assert sleeps == [0.01 * 2**n for n in range(tries - 1)]
    assert server.handler.received == []


def leave(project: Path, *addresses: str) -> None:
    """These readers unsubscribe (as the one-click link does), from another connection."""
    from newsletter_digest.config.loading import load_config
    from newsletter_digest.readers import book
    from newsletter_digest.state.store import open_state

    with open_state(load_config(project / "digest.yaml").settings.state) as state:
        for address in addresses:
            reader = book.find(state, address)
            assert reader is not None
            book.set_status(state, reader.id, "unsubscribed", "one-click", "2026-12-01T09:00:00Z")


def test_readers_who_leave_during_a_send_are_not_a_failure(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    readers = [f"r{n}@example.org" for n in range(10)]
    configure(project, server.port, smtp="rate: 4", recipients=readers)
    assert digest("build", "--no-send").exit_code == 0
    leaving = readers[-3:]
    unsubscriber = threading.Thread(
        target=lambda: server.handler.wait_for(2) and leave(project, *leaving)
    )
    unsubscriber.start()
    sent = digest("send")  # 4 a second: the three leave while the first ones go out
    unsubscriber.join()
    assert sent.exit_code == 0, sent.output
    assert "7 sent (7 now), 0 failed, 0 pending, 3 left before their turn" in sent.output
    assert Counter(server.handler.recipients()) == Counter(readers[:7])
    assert {statuses(project)[r] for r in leaving} == {"left"}
    again = digest("send")  # and every later send agrees
    assert again.exit_code == 0, again.output
    assert "3 left before their turn" in digest("history").output
    assert len(server.handler.received) == 7


def test_a_resumed_send_counts_those_who_left_meanwhile(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers(Behaviour(refuse_sender="421 4.3.0 try again later"))
    configure(project, server.port)
    first = digest("build")
    assert first.exit_code == 1 and "5 pending" in first.output
    leave(project, READERS[0], READERS[3])
    server.handler.behaviour.refuse_sender = None
    second = digest("send")
    assert second.exit_code == 0, second.output
    assert "3 sent (3 now), 0 failed, 0 pending, 2 left before their turn" in second.output
    assert sorted(server.handler.recipients()) == sorted(READERS[1:3] + READERS[4:])
