"""`digest inbox` against a real IMAP server: Debian's Dovecot on 127.0.0.1 over TLS."""

from __future__ import annotations

import getpass
import imaplib
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from click.testing import Result

from smtp_helpers import free_port
from test_inbox import mime_bomb, sample, sent, statuses  # noqa: F401 - the sent fixture

Digest = Callable[..., Result]
DOVECOT = Path("/usr/sbin/dovecot")
PASSWORD = "imap-secret"


class Dovecot:
    """A private Dovecot (its own config, folders and port) with one account, 'bounces'."""

    def __init__(self, folder: Path, ca: trustme.CA) -> None:
        if not DOVECOT.exists():
            pytest.fail(f"{DOVECOT} is missing: 'make test' installs it (dovecot-imapd)")
        self.folder, self.port = folder, free_port()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
        root = os.geteuid() == 0
        me = getpass.getuser()
        login, internal = ("dovenull", "dovecot") if root else (me, me)
        owner = pwd.getpwnam(internal)
        (folder / "mail").mkdir()
        (folder / "state").mkdir()
        os.chown(folder / "mail", owner.pw_uid, owner.pw_gid)
        (folder / "dovecot.conf").write_text(
            f"""base_dir = {folder}/run
state_dir = {folder}/state
protocols = imap
listen = 127.0.0.1
log_path = {folder}/dovecot.log
ssl = required
ssl_cert = <{folder}/server.pem
ssl_key = <{folder}/server.pem
auth_mechanisms = plain
mail_location = maildir:{folder}/mail/%u
first_valid_uid = {owner.pw_uid}
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={folder}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
"""
        )
        subprocess.run([str(DOVECOT), "-c", str(folder / "dovecot.conf")], check=True)
        self.context = ssl.create_default_context()
        ca.configure_trust(self.context)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.connect().logout()
                break
            except OSError:
                assert time.monotonic() < deadline, (folder / "dovecot.log").read_text()
                time.sleep(0.1)

    def connect(self) -> imaplib.IMAP4_SSL:
        conn = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=self.context, timeout=10)
        conn.login("bounces", PASSWORD)
        return conn

    def count(self, folder: str) -> int:
        conn = self.connect()
        try:
            status, data = conn.select(folder)
            return int(data[0]) if status == "OK" and data[0] else 0
        finally:
            conn.logout()

    def stop(self) -> None:
        pid = (self.folder / "run" / "master.pid").read_text().strip()
        os.kill(int(pid), signal.SIGTERM)


@pytest.fixture
def dovecot(ca: trustme.CA) -> Iterator[Dovecot]:
    # Not under pytest's tmp_path: its folders are 0700, and Dovecot's mail processes run
    # as an unprivileged user that must reach the mail folder.
    folder = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
    folder.chmod(0o755)
    server = Dovecot(folder, ca)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def imap_inbox(project: Path, server: Dovecot, ca: trustme.CA) -> None:
    ca.cert_pem.write_to_path(str(project / "imap-ca.pem"))
    config = project / "digest.yaml"
    config.write_text(
        config.read_text()
        + f"inbox:\n  host: localhost\n  port: {server.port}\n  user: bounces\n"
        + "  ca_file: imap-ca.pem\n"
    )


def test_bounces_are_read_from_an_imap_account_once(
    project: Path,
    digest: Digest,
    sent: dict[str, str],  # noqa: F811
    dovecot: Dovecot,
    ca: trustme.CA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = "ann@example.org"
    conn = dovecot.connect()
    dsn = sample("gmail-dsn-5.1.1.eml", recipient=reader, message_id=sent[reader])
    reply = sample("newsletter-reply.eml", recipient="cy@example.org")
    for message in (dsn, reply):
        status, _ = conn.append("INBOX", None, None, message.replace(b"\n", b"\r\n"))
        assert status == "OK"
    conn.logout()
    imap_inbox(project, dovecot, ca)
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD", PASSWORD)
    result = digest("inbox")
    assert result.exit_code == 0, result.output
    assert statuses(project)[reader] == "bounced"
    assert dovecot.count("INBOX") == 1  # the reply stays where it is
    assert dovecot.count("processed") == 1
    assert "0 processed" in digest("inbox").output  # nothing twice


def test_a_wrong_password_or_untrusted_server_is_a_clear_error(
    project: Path, digest: Digest, dovecot: Dovecot, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap_inbox(project, dovecot, ca)
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD", "wrong")
    result = digest("inbox")
    assert result.exit_code == 1 and "cannot read the IMAP inbox" in result.output
    monkeypatch.delenv("DIGEST_IMAP_PASSWORD")
    assert "DIGEST_IMAP_PASSWORD is empty" in digest("inbox").output
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("  ca_file: imap-ca.pem\n", ""))
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD", PASSWORD)
    untrusted = digest("inbox")
    assert untrusted.exit_code == 1 and "not trusted" in untrusted.output


def test_mime_bombs_in_an_imap_account_are_moved_once(
    project: Path,
    digest: Digest,
    dovecot: Dovecot,
    ca: trustme.CA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = dovecot.connect()
    for shape in ("lines", "deep", "parts"):
        status, _ = conn.append("INBOX", None, None, mime_bomb(shape, b"\r\n"))
        assert status == "OK"
    conn.logout()
    imap_inbox(project, dovecot, ca)
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD", PASSWORD)
    started = time.monotonic()
    result = digest("inbox")
    assert time.monotonic() - started < 15
    assert result.exit_code == 0, result.output
    assert "3 messages: 3 processed" in result.output
    assert "too large" in result.output and "too deep" in result.output
    assert (dovecot.count("INBOX"), dovecot.count("processed")) == (0, 3)
    assert "0 messages: 0 processed" in digest("inbox").output
