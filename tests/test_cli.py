"""End to end: the digest command on a temporary project with real files, MRML and SQLite."""

from __future__ import annotations

import email
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import write_excerpt
from newsletter_digest.cli import cli
from newsletter_digest.render.renderer import PACKAGE_TEMPLATES
from newsletter_digest.state import store as state_module

Digest = Callable[..., Result]


def picked(project: Path, number: int) -> list[str]:
    db = sqlite3.connect(project / ".digest" / "state.db")
    rows = db.execute(
        "SELECT excerpt_id FROM picks WHERE issue_number = ? ORDER BY position", (number,)
    )
    ids = [row[0] for row in rows]
    db.close()
    return ids


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder with its bytes, to prove a command changed nothing."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("command", [[], *([name] for name in cli.commands)])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_the_documented_commands_all_exist() -> None:
    assert set(cli.commands) >= {
        "build",
        "send",
        "preview",
        "run",
        "import",
        "check",
        "history",
        "archive",
        "next",
    }


def test_build_writes_a_complete_issue_and_records_it(project: Path, digest: Digest) -> None:
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "Issue #1" in result.output
    folder = project / "outbox" / "issue-0001"
    html = (folder / "issue-0001.html").read_text(encoding="utf-8")
    text = (folder / "issue-0001.txt").read_text(encoding="utf-8")
    ids = picked(project, 1)
    assert len(ids) == 3 and len(set(ids)) == 3
    for excerpt_id in ids:
        title = f"Post number {excerpt_id.split('-')[1]}"
        assert title in html and title in text
    assert "<html" in html.lower() and "<" not in text
    message = email.message_from_bytes(
        (folder / "issue-0001.eml").read_bytes(), policy=policy.default
    )
    assert message["Subject"].startswith("Test Weekly #1")
    assert message["List-Unsubscribe"] == "<https://example.org/unsubscribe>"
    assert message["To"] == "reader@example.org"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_consecutive_issues_do_not_repeat_within_a_cycle(project: Path, digest: Digest) -> None:
    for _ in range(4):
        assert digest("build").exit_code == 0
    first, second = picked(project, 1), picked(project, 2)
    assert set(first) | set(second) == {f"post-{n}" for n in range(1, 7)}
    assert set(picked(project, 3)) | set(picked(project, 4)) == set(first) | set(second)
    history = digest("history")
    assert history.exit_code == 0
    assert all(f"#{n}" in history.output for n in range(1, 5))
    assert "rotation: cycle 2 complete" in history.output


def test_dry_run_shows_what_build_then_makes_and_changes_nothing(
    project: Path, digest: Digest
) -> None:
    digest("build")
    before = snapshot(project)
    dry = digest("build", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert snapshot(project) == before
    assert "issue-0002" in dry.output
    promised = re.findall(r"\[(post-\d), cycle", dry.output)
    assert digest("build").exit_code == 0
    assert picked(project, 2) == promised


def test_dry_run_after_changes_reads_the_caches_and_adds_nothing_to_them(
    project: Path, digest: Digest
) -> None:
    """Changed inputs give the dry run things to compile and parse; none of it is kept."""
    assert digest("build").exit_code == 0
    excerpt = project / "content" / "post-2.md"
    excerpt.write_text(excerpt.read_text(encoding="utf-8") + "\nA new line.\n", encoding="utf-8")
    an_hour_ago = time.time() - 3600  # old enough to be cached, were it a build
    os.utime(excerpt, (an_hour_ago, an_hour_ago))
    override = project / "templates" / "digest.txt.j2"
    override.parent.mkdir()
    override.write_text(
        (PACKAGE_TEMPLATES / "digest.txt.j2").read_text(encoding="utf-8") + "\nP.S. changed\n",
        encoding="utf-8",
    )
    config = project / "digest.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + 'subject: "New {{ issue.number }}"\n',
        encoding="utf-8",
    )
    paths = sorted(project.rglob("*"))
    before = snapshot(project)
    dry = digest("build", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "New 2" in dry.output
    assert sorted(project.rglob("*")) == paths
    assert snapshot(project) == before
    assert digest("build").exit_code == 0
    assert "P.S. changed" in (project / "outbox/issue-0002/issue-0002.txt").read_text("utf-8")


def test_dry_run_on_a_fresh_project_creates_no_state(project: Path, digest: Digest) -> None:
    assert digest("build", "--dry-run").exit_code == 0
    assert not (project / ".digest").exists()
    assert not (project / "outbox").exists()


def test_a_broken_excerpt_is_skipped_and_the_issue_still_goes_out(
    project: Path, digest: Digest
) -> None:
    content = project / "content"
    (content / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    (content / "binary.md").write_bytes(b"---\ntitle: x\n---\n\xff\xfe body")
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "broken.md" in result.output and "binary.md" in result.output
    assert "warning:" in result.output
    assert (project / "outbox" / "issue-0001" / "issue-0001.eml").exists()
    checked = digest("check")
    assert checked.exit_code == 1
    assert "broken.md" in checked.output and "binary.md" in checked.output


def test_bad_config_stops_before_anything_is_written(project: Path, digest: Digest) -> None:
    (project / "digest.yaml").write_text("title: T\nsender: nobody\nper_issue: -1\n")
    result = digest("build")
    assert result.exit_code == 1
    assert "error:" in result.output and "hint:" in result.output
    assert "sender:" in result.output and "per_issue:" in result.output
    assert "Traceback" not in result.output
    assert not (project / "outbox").exists() and not (project / ".digest").exists()


def test_verbose_shows_the_traceback(project: Path, digest: Digest) -> None:
    (project / "digest.yaml").write_text("title: T\n")
    quiet = digest("build")
    loud = CliRunner().invoke(cli, ["-v", "--config", str(project / "digest.yaml"), "build"])
    assert quiet.exit_code == loud.exit_code == 1
    assert "Traceback" not in quiet.output
    assert "Traceback" in loud.output


def test_broken_template_names_file_and_line_and_writes_nothing(
    project: Path, digest: Digest
) -> None:
    assert digest("build").exit_code == 0
    before = snapshot(project / "outbox"), picked(project, 1)
    templates = project / "templates"
    templates.mkdir()
    (templates / "digest.txt.j2").write_text("Hello\n{% for e in excerpts %}\n{{ e.title }\n")
    result = digest("build")
    assert result.exit_code == 1
    assert "digest.txt.j2" in result.output and re.search(r"line \d", result.output)
    assert "Traceback" not in result.output
    assert (snapshot(project / "outbox"), picked(project, 1)) == before
    assert picked(project, 2) == []
    assert digest("check").exit_code == 1


@pytest.mark.parametrize("command", [["check"], ["build", "--dry-run"], ["build"]])
def test_a_template_that_is_not_utf8_is_an_error_not_a_traceback(
    project: Path, digest: Digest, command: list[str]
) -> None:
    templates = project / "templates"
    templates.mkdir()
    (templates / "digest.txt.j2").write_bytes(b"\xff\xfe junk")
    result = digest(*command)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    assert f"{templates / 'digest.txt.j2'}: not valid UTF-8 (line 1: byte 0xff)" in result.output
    assert "hint: save the file as UTF-8 text" in result.output or command == ["check"]
    assert not (project / "outbox").exists()


def test_empty_pool_is_an_error_and_nothing_is_written(project: Path, digest: Digest) -> None:
    for path in (project / "content").iterdir():
        path.unlink()
    result = digest("build")
    assert result.exit_code == 1
    assert "error:" in result.output
    assert not (project / "outbox").exists()


def test_small_pool_gives_the_whole_pool_and_a_warning(project: Path, digest: Digest) -> None:
    for n in range(3, 7):
        (project / "content" / f"post-{n}.md").unlink()
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output
    assert sorted(picked(project, 1)) == ["post-1", "post-2"]


def test_unwritable_outbox_stops_and_state_is_unchanged(project: Path, digest: Digest) -> None:
    (project / "outbox").write_text("a file, not a folder")
    result = digest("build")
    assert result.exit_code == 1
    assert "outbox" in result.output and "hint:" in result.output
    db = sqlite3.connect(project / ".digest" / "state.db")
    assert db.execute("SELECT COUNT(*) FROM issues").fetchone()[0] == 0


def test_a_build_killed_before_recording_is_completed_not_repeated(
    project: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: object, record: object) -> None:
        raise KeyboardInterrupt  # the process dies after the files are in the outbox

    with monkeypatch.context() as patch:
        patch.setattr(state_module.State, "record_issue", crash)
        digest("build")
    assert (project / "outbox" / "issue-0001").is_dir()
    assert picked(project, 1) == []
    recovered = digest("build")
    assert recovered.exit_code == 0, recovered.output
    assert "interrupted build" in recovered.output
    assert len(picked(project, 1)) == 3
    assert not (project / "outbox" / "issue-0002").exists()
    assert digest("build").exit_code == 0
    assert set(picked(project, 2)).isdisjoint(picked(project, 1))


def test_deleted_state_never_overwrites_outbox_issues(project: Path, digest: Digest) -> None:
    assert digest("build").exit_code == 0
    first = snapshot(project / "outbox")
    shutil.rmtree(project / ".digest")
    assert digest("build").exit_code == 0  # restores issue 1 from its manifest
    assert digest("build").exit_code == 0
    # The archive (index.html, feed.xml) grows with every issue; issue folders never change.
    issues = {k: v for k, v in first.items() if k.startswith("issue-")}
    assert {k: v for k, v in snapshot(project / "outbox").items() if k in issues} == issues
    assert (project / "outbox" / "issue-0002").is_dir()


def test_history_of_one_issue_and_of_a_missing_one(project: Path, digest: Digest) -> None:
    digest("build")
    one = digest("history", "1")
    assert one.exit_code == 0
    assert "message-id:" in one.output and "Post number" in one.output
    missing = digest("history", "9")
    assert missing.exit_code == 1
    assert "no issue #9" in missing.output


def test_check_passes_on_a_good_project(digest: Digest) -> None:
    result = digest("check")
    assert result.exit_code == 0, result.output
    assert "6 excerpts" in result.output


def test_import_adds_excerpts_once(project: Path, digest: Digest, tmp_path: Path) -> None:
    teasers = tmp_path / "teasers.txt"
    teasers.write_text(
        "Caching is the cheapest speed-up. Here is how we cut latency in half with one cach...\n"
        "Queues are not a silver bullet.\nThey move the problem somewh...\n",
        encoding="utf-8",
    )
    first = digest("import", str(teasers))
    assert first.exit_code == 0, first.output
    assert "2 added" in first.output
    again = digest("import", str(teasers))
    assert again.exit_code == 0
    assert "0 added" in again.output
    assert len(list((project / "content").glob("*.md"))) == 8


def test_bad_usage_exits_2(digest: Digest) -> None:
    assert digest("build", "--no-such-flag").exit_code == 2
    assert digest("history", "not-a-number").exit_code == 2


def test_the_bundled_example_is_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    result = CliRunner().invoke(cli, ["--config", str(root / "digest.yaml"), "check"])
    assert result.exit_code == 0, result.output
    assert re.search(r"content: (\d+) excerpts loaded \(\1 active\), 0 skipped", result.output)


def test_excerpt_added_later_is_picked_up(project: Path, digest: Digest) -> None:
    digest("build")
    write_excerpt(project / "content", "fresh", "A fresh post")
    seen = set()
    for number in range(2, 4):
        assert digest("build").exit_code == 0
        seen |= set(picked(project, number))
    assert "fresh" in seen


def test_an_edited_template_is_used_by_the_next_build(project: Path, digest: Digest) -> None:
    templates = project / "templates"
    templates.mkdir()
    (templates / "digest.txt.j2").write_text("First design: {{ title }}\n")
    assert digest("build").exit_code == 0
    (templates / "digest.txt.j2").write_text("Second design: {{ title }}\n")
    assert digest("build").exit_code == 0
    outbox = project / "outbox"
    assert "First design" in (outbox / "issue-0001" / "issue-0001.txt").read_text()
    assert "Second design" in (outbox / "issue-0002" / "issue-0002.txt").read_text()


def test_dry_run_after_an_interrupted_build_says_what_the_next_build_does(
    project: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert digest("build").exit_code == 0

    def crash(self: object, record: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(state_module.State, "record_issue", crash)
        digest("build")
    dry = digest("build", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "records issue #2" in dry.output and "issue-0003" in dry.output
    promised = re.findall(r"\[(post-\d), cycle", dry.output)
    assert digest("build").exit_code == 0  # records #2
    assert digest("build").exit_code == 0  # makes #3
    assert picked(project, 3) == promised


def test_an_excerpt_with_control_characters_still_goes_out(project: Path, digest: Digest) -> None:
    for path in (project / "content").iterdir():
        path.unlink()
    (project / "content" / "junk.md").write_bytes(b"Form\x0cfeed and \x1b escape \x00 text.\n")
    (project / "content" / "fine.md").write_text("A fine excerpt.\n")
    assert digest("check").exit_code == 0
    result = digest("build")
    assert result.exit_code == 0, result.output
    html = (project / "outbox" / "issue-0001" / "issue-0001.html").read_text()
    # One sentence: it is the excerpt's heading (spaces collapsed), not printed again below.
    assert "Formfeed and escape text</h" in html
