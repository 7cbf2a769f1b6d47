"""The use cases behind `digest status`, `check`, `history`, `archive`, `readers`, `inbox`,
`state`, `init` and `import`, called as the adapters call them: each returns a frozen
result, prints nothing, and the commands that present them no longer touch the state."""

from __future__ import annotations

import ast
import dataclasses
import mailbox
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import Result

from newsletter_digest.app import archive, checks, content, history, inbox, state_admin, status
from newsletter_digest.app import project as starting
from newsletter_digest.app import readers as book_of
from newsletter_digest.config.loading import Config, load_config
from newsletter_digest.errors import DigestError, StateError

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "newsletter_digest"


def _config(project: Path) -> Config:
    return load_config(project / "digest.yaml")


def _frozen(result: object) -> None:
    assert dataclasses.is_dataclass(result)
    field = dataclasses.fields(result)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, field, None)


def test_the_cli_adapters_do_not_import_the_state() -> None:
    """`cli*.py` parse, call a use case and present it: none imports newsletter_digest.state."""
    offenders = []
    for path in sorted(PACKAGE.glob("cli*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.name}: {name}"
                for name in names
                if name == "newsletter_digest.state" or name.startswith("newsletter_digest.state.")
            ]
    assert not offenders


def test_reader_use_cases_own_the_book(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(project)
    added = book_of.add_reader(config, "Ann <ann@example.org>", None)
    _frozen(added)
    assert added.new and added.reader.address == "ann@example.org"
    assert not book_of.add_reader(config, "ANN@example.org", None).new

    removed = book_of.remove_reader(config, "ann@example.org")
    assert not removed.already
    assert book_of.remove_reader(config, "ann@example.org").already
    with pytest.raises(book_of.ReaderError, match=r"unsubscribed \(.*\) and stays so"):
        book_of.add_reader(config, "ann@example.org", None)
    with pytest.raises(book_of.ReaderError, match="is not a reader"):
        book_of.remove_reader(config, "bob@example.org")

    seen: list[str] = []
    listed = book_of.list_readers(config, "unsubscribed", lambda r: seen.append(r.address))
    assert seen == ["ann@example.org"] and listed.shown == 1
    assert listed.counts["unsubscribed"] == 1

    export = project / "readers.csv"
    assert book_of.export_readers(config, export, None).count == sum(listed.counts.values())
    again = book_of.import_readers(config, export, lambda line, why: None, lambda read: None)
    _frozen(again)
    assert again.added == 0 and again.unchanged == sum(listed.counts.values())
    assert capsys.readouterr() == ("", "")  # a use case presents nothing itself


def test_status_history_and_check_report_without_printing(
    project: Path, digest: Callable[..., Result], capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(project)
    before = status.gather(config, datetime.now(UTC))
    _frozen(before)
    assert before.last_issue is None and before.needs_you == ()
    with pytest.raises(StateError, match="there is no issue #1"):
        history.history(config, 1)

    assert digest("build").exit_code == 0
    capsys.readouterr()
    after = status.gather(config, datetime.now(UTC))
    assert after.last_issue is not None and after.last_issue.number == 1
    assert after.last_issue.pending == 0
    past = history.history(config)
    _frozen(past)
    assert [r.number for r in past.records] == [1] and past.position is not None
    assert past.folders == (config.settings.outbox / past.records[0].folder,)
    one = history.history(config, 1)
    assert one.position is None and one.standing == ()

    report = checks.run_checks(config)
    _frozen(report)
    assert not report.problems and "templates: all compile" in report.lines
    rebuilt = archive.rebuild_archive(config)
    _frozen(rebuilt)
    assert rebuilt.issues == 1 and rebuilt.page.is_file() and rebuilt.moved is None
    assert capsys.readouterr() == ("", "")


def test_inbox_state_init_and_import_use_cases(project: Path, tmp_path: Path) -> None:
    config = _config(project)
    box = tmp_path / "returned.mbox"
    note = EmailMessage()
    note["From"] = "someone@example.net"
    note["Subject"] = "hello"
    note.set_content("just saying hello")
    mbox = mailbox.mbox(box)
    mbox.add(note)
    mbox.close()
    read = inbox.read_returned_mail(config, box, dry_run=True)
    _frozen(read)
    assert len(read.actions) == 1 and read.processed == 0 and read.needs_you == 0
    with pytest.raises(DigestError, match="no mailbox to read"):
        inbox.read_returned_mail(config, None, dry_run=True)

    book_of.add_reader(config, "ann@example.org", None)
    copy = state_admin.backup_state(config, tmp_path / "backup.db")
    _frozen(copy)
    assert copy.readers >= 1 and copy.target == tmp_path / "backup.db"
    restored = state_admin.restore_state(config, copy.target, force=True)
    assert restored.target == config.settings.state and restored.readers == copy.readers

    started = starting.init(tmp_path / "new")
    _frozen(started)
    assert all(path.is_file() for path in started.written)

    teasers = tmp_path / "teasers.txt"
    teasers.write_text("A teaser\nhttps://example.org/a\nIts text.\n", encoding="utf-8")
    imported = content.import_sources(
        config,
        [str(teasers), str(tmp_path / "missing.txt")],
        fmt=None,
        target=None,
        max_length=600,
        added=datetime.now(UTC).date(),
    )
    _frozen(imported)
    assert imported.failed
    first, second = imported.sources
    assert first.report is not None and first.error is None
    assert second.report is None and second.error is not None
