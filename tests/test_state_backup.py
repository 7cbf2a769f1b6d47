"""`digest state backup` and `restore`: consistent copies while the server writes, checked
restores, and links that keep working after a move to another folder."""

from __future__ import annotations

import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from newsletter_digest.cli import cli
from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.store import SCHEMA_VERSION, open_state
from test_serve import Running, configure

Digest = Callable[..., Result]
NOW = "2026-12-01T09:00:00+00:00"


def _readers(project: Path, count: int) -> list[str]:
    """``count`` readers in the book, and an unsubscribe token for each."""
    settings = load_config(project / "digest.yaml").settings
    tokens = Tokens(server_key(settings.state))
    made = []
    with open_state(settings.state) as state:
        for n in range(count):
            reader, _ = book.add(state, f"r{n}@example.org", source="import", now=NOW)
            made.append(tokens.make(reader, "unsubscribe"))
    return made


def _unsubscribed(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(
            conn.execute("SELECT COUNT(*) FROM readers WHERE status = 'unsubscribed'").fetchone()[0]
        )
    finally:
        conn.close()


def test_a_backup_taken_while_serve_records_unsubscribes_is_consistent(
    project: Path, digest: Digest, tmp_path: Path
) -> None:
    configure(project, "serve:\n  requests_per_minute: 100000\n")
    tokens = _readers(project, 150)
    server = Running(project)
    posted: list[int] = []

    def post(chunk: list[str]) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            for token in chunk:
                answer = client.post(
                    f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
                )
                posted.append(answer.status_code)

    threads = [threading.Thread(target=post, args=(tokens[n::3],)) for n in range(3)]
    try:
        for thread in threads:
            thread.start()
        seen = []
        for n in range(4):  # while the POSTs land
            result = digest("state", "backup", str(tmp_path / f"backup-{n}.db"))
            assert result.exit_code == 0, result.output
            seen.append(_unsubscribed(tmp_path / f"backup-{n}.db"))
        for thread in threads:
            thread.join(60)
    finally:
        server.stop()
    assert posted == [200] * 150
    assert seen == sorted(seen)  # each copy is one moment: never fewer than the one before
    final = digest("state", "backup", str(tmp_path / "final.db"))
    assert final.exit_code == 0 and "150 readers" in final.output
    assert _unsubscribed(tmp_path / "final.db") == 150
    assert stat.S_IMODE((tmp_path / "final.db").stat().st_mode) == 0o600


def test_a_restored_newsletter_honours_links_from_before_the_move(
    project: Path, digest: Digest, tmp_path: Path
) -> None:
    configure(project)
    [token] = _readers(project, 1)
    assert digest("state", "backup", str(tmp_path / "b.db")).exit_code == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "digest.yaml").write_text((project / "digest.yaml").read_text())
    (moved / "content").symlink_to(project / "content")
    runner = CliRunner()
    restored = runner.invoke(
        cli, ["--config", str(moved / "digest.yaml"), "state", "restore", str(tmp_path / "b.db")]
    )
    assert restored.exit_code == 0, restored.output
    assert "0 issues, 1 reader;" in restored.output and "secret" in restored.output
    server = Running(moved)
    try:
        answer = server.client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    finally:
        server.stop()
    assert answer.status_code == 200
    with open_state(moved / ".digest" / "state.db") as state:
        reader = book.find(state, "r0@example.org")
        assert reader is not None and reader.status == "unsubscribed"
    db = sqlite3.connect(moved / ".digest" / "state.db")
    assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'digest_backup'").fetchall()
    db.close()


def test_a_backup_never_overwrites_a_file(project: Path, digest: Digest, tmp_path: Path) -> None:
    assert digest("build").exit_code == 0
    target = tmp_path / "there.db"
    target.write_text("mine")
    result = digest("state", "backup", str(target))
    assert result.exit_code == 1 and "exists already" in result.output
    assert target.read_text() == "mine"


def test_restore_refuses_what_is_not_a_state_this_release_reads(
    project: Path, digest: Digest, tmp_path: Path
) -> None:
    assert digest("build").exit_code == 0
    before = (project / ".digest" / "state.db").read_bytes()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = digest("state", "restore", "--force", str(junk))
    assert result.exit_code == 1 and "not a digest state database" in result.output
    assert "Traceback" not in result.output

    newer = tmp_path / "newer.db"
    assert digest("state", "backup", str(newer)).exit_code == 0
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    result = digest("state", "restore", "--force", str(newer))
    assert result.exit_code == 1 and f"schema version {SCHEMA_VERSION + 1}" in result.output
    assert (project / ".digest" / "state.db").read_bytes() == before


def test_restore_replaces_a_used_state_only_when_forced_and_keeps_it(
    project: Path, digest: Digest, tmp_path: Path
) -> None:
    assert digest("build").exit_code == 0
    assert digest("state", "backup", str(tmp_path / "one.db")).exit_code == 0
    assert digest("build").exit_code == 0  # issue 2, which the backup does not hold
    refused = digest("state", "restore", str(tmp_path / "one.db"))
    assert refused.exit_code == 1 and "--force" in refused.output
    forced = digest("state", "restore", "--force", str(tmp_path / "one.db"))
    assert forced.exit_code == 0, forced.output
    history = digest("history")
    assert "#1 " in history.output and "#2 " not in history.output
    [kept] = (project / ".digest").glob("state.db.before-restore-*")
    conn = sqlite3.connect(kept)
    assert conn.execute("SELECT COUNT(*) FROM issues").fetchone()[0] == 2
    conn.close()
