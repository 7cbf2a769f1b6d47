"""What holds readers' addresses or secrets is created for its owner only (issue 23), and
``digest check`` warns when other users can read one that exists."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result

from newsletter_digest.config.loading import load_config
from newsletter_digest.delivery.send import send_notice
from newsletter_digest.mail import notices
from newsletter_digest.readers.tokens import ENV_VAR, server_key
from newsletter_digest.state.locks import process_lock
from newsletter_digest.state.store import open_state

Digest = Callable[..., Result]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def umask_022(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The usual umask, under which a plain new file is 0644 (readable by everyone)."""
    monkeypatch.delenv(ENV_VAR, raising=False)  # the key file is made, not read from $ENV
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def pickup(project: Path) -> Path:
    """The test project writing each reader's message to a pickup folder."""
    config = project / "digest.yaml"
    config.write_text(
        config.read_text().replace(
            "recipients: [reader@example.org]",
            "recipients: [ann@example.org, bob@example.org]\nper_recipient: true",
        )
    )
    return project


def test_state_secret_locks_notices_and_messages_are_private(
    pickup: Path, digest: Digest, umask_022: None
) -> None:
    assert digest("build").exit_code == 0
    config = load_config(pickup / "digest.yaml")
    state = config.settings.state
    message, _ = notices.confirmation(
        "Test Weekly", "news@example.org", "cy@example.org", "https://x/c/T", datetime.now(UTC)
    )
    assert send_notice(config, message, "cy@example.org").verdict == "sent"
    server_key(state)
    with open_state(state) as db, process_lock(state, "run"):
        with db.write_lock():
            db.mark_inbox_seen("<probe@example.org>", "a write, for the -wal file", "now")
        wal = state.with_name("state.db-wal")
        shm = state.with_name("state.db-shm")
        assert wal.exists() and shm.exists()
        files = {
            "state.db": mode(state),
            "state.db-wal": mode(wal),
            "state.db-shm": mode(shm),
            "secret": mode(state.parent / "secret"),
            "run lock": mode(state.with_name("state.db.run.lock")),
        }
    assert files == dict.fromkeys(files, 0o600)
    assert mode(state.parent) == 0o700
    outbox = pickup / "outbox"
    assert mode(outbox) == 0o700
    messages = outbox / "issue-0001" / "messages"
    for folder in (outbox / "notices", messages):
        assert mode(folder) == 0o700
        written = list(folder.glob("*.eml"))
        assert written and {mode(f) for f in written} == {0o600}
    assert len(list(messages.glob("*.eml"))) == 2


def test_check_warns_about_private_files_others_can_read(
    pickup: Path, digest: Digest, umask_022: None
) -> None:
    assert digest("build").exit_code == 0
    config = load_config(pickup / "digest.yaml")
    state = config.settings.state
    secret = state.parent / "secret"
    server_key(state)
    messages = pickup / "outbox" / "issue-0001" / "messages"
    clean = digest("check")
    assert "readable by other users" not in clean.output
    assert "go-rwx" not in clean.output
    # As an older version left them, or a careless copy: readable by everyone.
    state.chmod(0o644)
    secret.chmod(0o640)
    messages.chmod(0o755)
    for eml in messages.iterdir():
        eml.chmod(0o644)
    result = digest("check")
    assert f"{state} is readable by other users (mode 0644)" in result.output
    assert f"chmod 600 {state}" in result.output
    assert f"{secret} is readable by other users (mode 0640)" in result.output
    assert f"chmod -R go-rwx {messages}" in result.output
    state.chmod(0o600)
    secret.chmod(0o600)
    messages.chmod(0o700)
    fixed = digest("check")
    assert "readable by other users" not in fixed.output
    assert "go-rwx" not in fixed.output


def test_check_warns_about_a_dkim_key_others_can_read(project: Path, digest: Digest) -> None:
    """The DKIM private key signs mail as the domain: whoever reads it can too."""
    key = project / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    config = project / "digest.yaml"
    config.write_text(
        config.read_text() + "dkim:\n  domain: example.org\n  selector: digest\n"
        "  key_file: dkim.pem\n"
    )
    key.chmod(0o600)
    assert "readable by other users" not in digest("check").output
    key.chmod(0o644)  # as a copy or an unpacked backup leaves it
    result = digest("check")
    assert f"{key} is readable by other users (mode 0644)" in result.output
    assert f"chmod 600 {key}" in result.output
