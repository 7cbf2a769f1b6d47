"""What the tool says is true: `check` counts the reader book, `readers list` and `readers
import` say exactly what is there and what changed, a line with two addresses is refused,
and a routine hard bounce is reported, not an exit code that wakes someone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from smtp_helpers import configure

Digest = Callable[..., Result]


def smtp_without_recipients(project: Path, port: int = 2525) -> None:
    """SMTP configured (nothing is sent by these tests), no readers in digest.yaml."""
    configure(project, port, recipients=[])
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("recipients:\n", ""))


def test_check_counts_the_readers_in_the_book(project: Path, digest: Digest) -> None:
    smtp_without_recipients(project)
    for reader in ("ann@example.org", "bob@example.org", "cy@example.org"):
        assert digest("readers", "add", reader).exit_code == 0
    checked = digest("check")
    assert "recipients: 3 active readers" in checked.output, checked.output
    assert "outbox only" not in checked.output
    assert digest("readers", "remove", "bob@example.org").exit_code == 0
    assert "recipients: 2 active readers" in digest("check").output


def test_check_counts_config_readers_as_the_book_has_them(project: Path, digest: Digest) -> None:
    """reader@example.org is in digest.yaml; once unsubscribed, it is nobody's recipient."""
    assert "recipients: 1 active reader (no smtp section" in digest("check").output
    assert digest("readers", "add", "new@example.org").exit_code == 0
    assert "recipients: 2 active readers" in digest("check").output
    assert digest("readers", "remove", "reader@example.org").exit_code == 0
    assert digest("readers", "remove", "new@example.org").exit_code == 0
    assert "recipients: none (outbox only)" in digest("check").output
