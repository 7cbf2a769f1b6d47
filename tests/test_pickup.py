"""per_recipient: each recipient's message in the issue's messages/ folder, resumable."""

from __future__ import annotations

import email
import shutil
import sqlite3
import tracemalloc
from collections.abc import Callable
from datetime import date
from email import policy
from pathlib import Path

import pytest
from click.testing import Result

from newsletter_digest.config.loading import load_config
from newsletter_digest.delivery.pickup import message_name
from newsletter_digest.models import IssueRecord
from newsletter_digest.state.store import UNFINISHED, State, open_state

Digest = Callable[..., Result]


def configure(project: Path, readers: list[str]) -> None:
    (project / "readers.txt").write_text("".join(f"{r}\n" for r in readers), encoding="utf-8")
    (project / "digest.yaml").write_text(
        'title: "Test Weekly"\nsender: "Test Weekly <news@example.org>"\n'
        "recipients_file: readers.txt\nper_recipient: true\n"
        'unsubscribe: "https://example.org/u?email={email}"\n',
        encoding="utf-8",
    )


def test_each_recipient_gets_a_file_and_nobody_gets_two(project: Path, digest: Digest) -> None:
    readers = [f"reader{n}@example.org" for n in range(12)]
    configure(project, readers)
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "12 sent" in result.output
    folder = project / "outbox" / "issue-0001" / "messages"
    files = sorted(folder.iterdir())
    assert len(files) == 12
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        to = str(message["To"])
        assert path.name == message_name(to)
        assert message["List-Unsubscribe"] == f"<https://example.org/u?email={to}>"
    assert sorted(str(email.message_from_bytes(p.read_bytes())["To"]) for p in files) == sorted(
        readers
    )
    again = digest("send")
    assert again.exit_code == 0
    assert "(0 now)" in again.output
    assert len(list(folder.iterdir())) == 12


def test_an_interrupted_run_resumes_with_exactly_the_rest(project: Path, digest: Digest) -> None:
    readers = [f"r{n}@example.org" for n in range(6)]
    configure(project, readers)
    assert digest("build").exit_code == 0
    folder = project / "outbox" / "issue-0001" / "messages"
    # As if the run had died after r0..r2: their rows pending again, r4's file half there.
    db = sqlite3.connect(project / ".digest" / "state.db")
    db.execute(
        "UPDATE deliveries SET status = 'pending' WHERE recipient IN (?, ?, ?)",
        ("r3@example.org", "r4@example.org", "r5@example.org"),
    )
    db.commit()
    db.close()
    kept = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    (folder / message_name("r5@example.org")).unlink()
    result = digest("send")
    assert result.exit_code == 0, result.output
    assert "6 sent (3 now)" in result.output
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert set(after) == set(kept)  # one file per recipient, none doubled
    for reader in readers[:3]:
        assert after[message_name(reader)] == kept[message_name(reader)]


def test_per_recipient_and_smtp_exclude_each_other(project: Path, digest: Digest) -> None:
    (project / "digest.yaml").write_text(
        "title: T\nsender: a@example.org\nper_recipient: true\nsmtp:\n  host: localhost\n"
    )
    result = digest("check")
    assert result.exit_code == 1
    assert "per_recipient and smtp exclude each other" in result.output


def test_the_delivery_log_streams_a_recipients_file(tmp_path: Path) -> None:
    """50,000 readers: the log is filled and walked without holding the list in memory."""
    count = 50_000
    (tmp_path / "readers.txt").write_text(
        "".join(f"a-rather-long-reader-address-{n}@example.org\n" for n in range(count))
    )
    (tmp_path / "digest.yaml").write_text(
        "title: T\nsender: a@example.org\nrecipients_file: readers.txt\nper_recipient: true\n"
    )
    config = load_config(tmp_path / "digest.yaml")
    assert config.recipient_count == count
    with open_state(config.settings.state) as state:
        state.record_issue(
            IssueRecord(1, date(2026, 11, 30), "now", "s", "<m@x>", "issue-0001", (), ())
        )
        tracemalloc.start()
        state.add_deliveries(1, ((r, f"<{r}>") for r in config.iter_recipients()), "now")
        seen = sum(1 for _ in state.iter_deliveries(1, UNFINISHED))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seen == count
    # Holding the addresses alone would take several MB; streaming stays well below that.
    assert peak < 2_000_000, f"peak {peak:,} bytes"


def test_a_lost_state_never_sends_old_issues_again(project: Path, digest: Digest) -> None:
    configure(project, ["a@example.org", "b@example.org"])
    assert digest("build").exit_code == 0
    assert digest("build").exit_code == 0
    folder = project / "outbox" / "issue-0002" / "messages"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    shutil.rmtree(project / ".digest")  # it looks like a cache folder; people delete those
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "issues #1, #2 were in the outbox but not in the state" in result.output
    assert "not sent" in result.output and "digest send 2" in result.output
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert not (project / "outbox" / "issue-0003").exists()


def test_a_build_that_died_before_recording_is_recorded_and_sent(
    project: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(project, ["a@example.org", "b@example.org"])
    assert digest("build").exit_code == 0

    def crash(self: object, record: object) -> None:
        raise KeyboardInterrupt  # killed after the files are in the outbox

    with monkeypatch.context() as patch:
        patch.setattr(State, "record_issue", crash)
        digest("build")
    assert not (project / "outbox" / "issue-0002" / "messages").exists()
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "interrupted build" in result.output
    assert len(list((project / "outbox" / "issue-0002" / "messages").iterdir())) == 2
    assert not (project / "outbox" / "issue-0003").exists()


def test_a_mailbox_listed_twice_gets_one_copy(project: Path, digest: Digest) -> None:
    configure(project, ["bob@example.org", "BOB@Example.org", "ann@example.org"])
    text = (project / "digest.yaml").read_text()
    (project / "digest.yaml").write_text(text + 'recipients: ["Bob <bob@example.org>"]\n')
    checked = digest("check")
    assert "recipients: 2 active readers (2 listed twice" in checked.output
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "Issue #1 to 2 recipients: 2 sent" in result.output
    messages = project / "outbox" / "issue-0001" / "messages"
    assert sorted(p.name for p in messages.iterdir()) == sorted(
        [message_name("bob@example.org"), message_name("ann@example.org")]
    )
