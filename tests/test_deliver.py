"""The outbox: atomic issue folders, never overwritten, and recovery of unrecorded ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from newsletter_digest.delivery import outbox as deliver
from newsletter_digest.errors import OutboxError
from newsletter_digest.models import IssueRecord, Pick


def files(number: int = 1) -> dict[str, bytes]:
    return deliver.issue_files(number, html=b"<p>h</p>", text=b"t", eml=b"Subject: s\r\n\r\nb")


def test_issue_folder_holds_html_text_and_eml(tmp_path: Path) -> None:
    folder = deliver.write_issue(tmp_path / "outbox", 7, files(7))
    assert folder == tmp_path / "outbox" / "issue-0007"
    assert sorted(p.name for p in folder.iterdir()) == [
        "issue-0007.eml",
        "issue-0007.html",
        "issue-0007.txt",
    ]
    assert (folder / "issue-0007.html").read_bytes() == b"<p>h</p>"
    assert not [p for p in (tmp_path / "outbox").iterdir() if p.name.startswith(".")]


def test_an_existing_issue_is_never_overwritten(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    deliver.write_issue(outbox, 1, files())
    with pytest.raises(OutboxError, match="never overwritten"):
        deliver.write_issue(outbox, 1, deliver.issue_files(1, b"new", b"new", b"new"))
    assert (outbox / "issue-0001" / "issue-0001.html").read_bytes() == b"<p>h</p>"


def test_unwritable_outbox_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox's parent should be")
    with pytest.raises(OutboxError) as info:
        deliver.write_issue(blocker / "outbox", 1, files())
    assert "cannot write to the outbox" in info.value.message
    assert "outbox" in info.value.hint
    assert blocker.read_text() == "a file where the outbox's parent should be"


def test_outbox_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.write_text("oops")
    with pytest.raises(OutboxError, match="cannot write to the outbox"):
        deliver.write_issue(outbox, 1, files())


def test_manifest_round_trips_and_orphans_are_found(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    record = IssueRecord(
        number=2,
        date=date(2026, 11, 2),
        created_at="2026-11-02T09:00:00+01:00",
        subject="Ünïcode subject",
        message_id="<2@example.org>",
        folder="issue-0002",
        picks=(Pick("a", 0), Pick("b", 1)),
        titles=("A", "B"),
    )
    deliver.write_issue(outbox, 1, files(1))
    deliver.write_issue(outbox, 2, files(2) | {deliver.MANIFEST: deliver.manifest(record)})
    (outbox / ".issue-0003.tmp-123").mkdir()
    found = deliver.orphans(outbox, last_recorded=1)
    assert [o.folder.name for o in found] == ["issue-0002"]
    assert found[0].record == record
    assert deliver.issue_numbers(outbox) == [1, 2]
    deliver.remove_stale_temp(outbox)
    assert not (outbox / ".issue-0003.tmp-123").exists()
