"""`digest send --test`: the next issue to a few addresses over a real SMTP server, and
nothing recorded: no issue, slot, reader or delivery, and the rotation does not move."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from smtp_helpers import READERS, Server, configure
from test_serve import Running

Digest = Callable[..., Result]


def _files(project: Path) -> dict[str, bytes]:
    """Every file of the project and its bytes (the state, outbox, caches included)."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file()
    }


def _with_base_url(project: Path) -> None:
    config = project / "digest.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + 'base_url: "https://news.example.org"\n',
        encoding="utf-8",
    )


def test_test_send_of_the_next_issue_reaches_only_those_addresses_and_records_nothing(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(project, server.port)
    _with_base_url(project)
    before = _files(project)

    result = digest("send", "--test", "me@example.net", "--test", "Editor <ed@example.net>")

    assert result.exit_code == 0, result.output
    assert "the next issue (#1)" in result.output
    assert sorted(server.handler.recipients()) == ["ed@example.net", "me@example.net"]
    for received in server.handler.received:
        message = received.message
        assert message["Subject"].startswith("[test] Test Weekly #1: ")
        assert received.rcpt_tos[0] in message["To"]
        html = message.get_body(("html",))
        assert html is not None
        assert "https://news.example.org/issue-0001/" in html.get_content()  # the web version
    assert _files(project) == before  # no state, no outbox, no cache written

    # The rotation did not move: the real issue #1 has the picks the test showed.
    tested = server.handler.received[0].message["Subject"].removeprefix("[test] ")
    built = digest("build")
    assert built.exit_code == 0, built.output
    real = [r.message["Subject"] for r in server.handler.received[2:]]
    assert real and set(real) == {tested}
    assert sorted(r for m in server.handler.received[2:] for r in m.rcpt_tos) == sorted(READERS)


def test_test_send_of_a_recorded_issue_changes_no_delivery(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(project, server.port)
    assert digest("build").exit_code == 0
    db = project / ".digest" / "state.db"
    tables = ("issues", "deliveries", "readers", "picks", "slots", "welcomes")

    def rows() -> dict[str, list[tuple[object, ...]]]:
        with sqlite3.connect(db) as conn:
            return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}

    before = rows()
    first = server.handler.received[0].message["Subject"]
    result = digest("send", "--test", "me@example.net", "--issue", "1")
    assert result.exit_code == 0, result.output
    assert "issue #1 via 127.0.0.1" in result.output
    test = server.handler.received[-1]
    assert test.rcpt_tos == ["me@example.net"]
    assert test.message["Subject"] == f"[test] {first}"
    assert rows() == before


def test_test_send_without_smtp_says_what_to_do_and_writes_nothing(
    project: Path, digest: Digest
) -> None:
    before = _files(project)
    result = digest("send", "--test", "me@example.net")
    assert result.exit_code == 1
    assert "needs an smtp section" in result.output
    assert "digest preview" in result.output
    assert "Traceback" not in result.output
    assert _files(project) == before


def test_test_send_names_a_bad_address_and_an_unknown_issue(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(project, server.port)
    bad = digest("send", "--test", "not an address")
    assert bad.exit_code == 1
    assert "--test" in bad.output and "not an address" in bad.output
    missing = digest("send", "--test", "me@example.net", "--issue", "7")
    assert missing.exit_code == 1
    assert "there is no issue #7" in missing.output
    assert server.handler.received == []


def test_a_refused_test_address_exits_1_naming_the_reply(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    from smtp_helpers import Behaviour

    server = servers(Behaviour(refuse={"gone@example.net": "550 5.1.1 no such user"}))
    configure(project, server.port)
    result = digest("send", "--test", "gone@example.net", "--test", "me@example.net")
    assert result.exit_code == 1
    assert "550 5.1.1 no such user" in result.output
    assert server.handler.recipients() == ["me@example.net"]


def test_issue_without_test_is_a_usage_error(digest: Digest) -> None:
    result = digest("send", "--issue", "1")
    assert result.exit_code == 2
    assert "--issue only works with --test" in result.output


def test_a_test_message_unsubscribe_link_answers_on_the_server_and_changes_nothing(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    # Who tries an issue on themselves is seldom a reader: their message has no reader's
    # token, yet its unsubscribe link (footer and List-Unsubscribe) must lead somewhere real.
    server = servers()
    configure(project, server.port)
    _with_base_url(project)
    assert digest("build").exit_code == 0  # the readers are in the book
    assert digest("send", "--test", "me@example.net").exit_code == 0
    message = server.handler.received[-1].message
    assert message["Subject"].startswith("[test] ")
    link = message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    assert link == "https://news.example.org/unsubscribe/"
    running = Running(project)
    try:
        path = link.removeprefix("https://news.example.org")
        shown = running.client.get(path)
        clicked = running.client.post(path, data={"List-Unsubscribe": "One-Click"})
    finally:
        running.stop()
    assert shown.status_code == 200 and "test message" in shown.text, shown.text
    assert clicked.status_code == 200 and "unsubscribes nobody" in clicked.text
    listed = digest("readers", "list")
    assert "unsubscribed" not in listed.output and all(r in listed.output for r in READERS)
