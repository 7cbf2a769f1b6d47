"""`digest status`: the operator's screen shows the newsletter as it is, and lists what needs
a person (deliveries not sent, a failing source, returned mail only a person can judge)."""

from __future__ import annotations

import json
import mailbox
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from smtp_helpers import Behaviour, Server, configure, free_port

Digest = Callable[..., Result]
RETURNS = Path(__file__).parent / "data" / "returns"


def test_a_new_project_has_nothing_yet_and_nothing_needs_you(project: Path, digest: Digest) -> None:
    shown = digest("status")
    assert shown.exit_code == 0, shown.output
    assert "last issue: none yet" in shown.output
    assert "readers:    1 in digest.yaml" in shown.output
    assert "needs you:  nothing" in shown.output
    assert not (project / ".digest").exists()  # status changes nothing


def test_status_shows_the_schedule_in_its_own_zone(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    config.write_text(
        config.read_text()
        + 'schedule: {every: monday, at: "09:00", timezone: Europe/Berlin, start: 2026-01-05}\n'
    )
    shown = digest("status")
    assert shown.exit_code == 0, shown.output
    assert "schedule:   every monday at 09:00 Europe/Berlin" in shown.output
    assert "next slot:  " in shown.output and " 09:00 CET (08:00 UTC), in " in shown.output


def test_unsent_deliveries_a_failing_source_and_the_inbox_need_you(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    smtp = servers(Behaviour(defer={"reader2@example.org": 99}))
    closed = free_port()  # nothing listens there: the feed fails
    configure(project, smtp.port)
    config = project / "digest.yaml"
    config.write_text(
        config.read_text()
        + f"sources:\n  - feed: http://127.0.0.1:{closed}/feed.xml\n"
        + "inbox: Maildir\n"
    )
    box = mailbox.Maildir(project / "Maildir", create=True)
    box.add((RETURNS / "unsubscribe-forged.eml").read_text().format(
        recipient="stranger@example.net", message_id="<x@example.org>",
        verp="0", token="bad",
    ).encode())  # fmt: skip
    built = digest("build")
    assert built.exit_code == 1  # reader2 is still pending
    assert digest("inbox").exit_code == 0

    shown = digest("status")
    assert shown.exit_code == 0, shown.output
    assert "last issue: #1 " in shown.output
    assert "4 sent, 0 refused, 1 not sent yet" in shown.output
    assert "readers:    5 active" in shown.output
    assert f"source:     feed:http://127.0.0.1:{closed}/feed.xml" in shown.output
    assert "last error:" in shown.output
    assert "inbox:      last read " in shown.output and "1 need you" in shown.output
    needs = shown.output.split("needs you:\n", 1)[1]
    assert "issue #1: 1 deliveries not sent yet ('digest send 1' resumes" in needs
    assert f"source feed:http://127.0.0.1:{closed}/feed.xml failed" in needs
    assert "inbox: 1 returned messages only you can judge" in needs

    data = json.loads(digest("status", "--json").output)
    assert data["last_issue"]["number"] == 1
    assert data["last_issue"]["deliveries"] == {"sent": 4, "failed-temporary": 1}
    assert data["readers"] == {"active": 5}
    assert data["inbox"]["needs_you"] == 1 and len(data["needs_you"]) == 3


def test_a_reader_who_left_before_their_turn_needs_nobody(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    smtp = servers(Behaviour(defer={"reader2@example.org": 99}))
    configure(project, smtp.port)
    assert digest("build").exit_code == 1  # reader2 still pending
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("  - 'reader2@example.org'\n", ""))
    assert digest("readers", "remove", "reader2@example.org").exit_code == 0
    assert digest("send", "1").exit_code == 0

    shown = digest("status")
    assert "4 sent, 0 refused, 1 left before their turn" in shown.output, shown.output
    assert "needs you:  nothing" in shown.output
