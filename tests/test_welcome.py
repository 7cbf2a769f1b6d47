"""The welcome message: a reader who confirms through a running `digest serve` gets the
`welcome:` file once, over the same SMTP server as issues, with the latest issue's web
link; never twice, even after a crash between sending and recording."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from newsletter_digest.app.welcome import send_welcome
from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book, welcomes
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.store import open_state
from serve_helpers import start_serve, wait_until_serving
from smtp_helpers import Server, configure, free_port

Digest = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[1]
WELCOME = """\
# Welcome aboard, {name}

Thanks for joining. Every Monday you get **three** excerpts; [the archive](https://news.example.org/)
has the ones before.
"""


def _set_up(project: Path, port: int) -> None:
    configure(project, port)
    (project / "welcome.md").write_text(WELCOME, encoding="utf-8")
    with (project / "digest.yaml").open("a", encoding="utf-8") as config:
        config.write(
            "base_url: https://news.example.org\nwelcome: welcome.md\n"
            "serve:\n  subscribe: true\n  requests_per_minute: 1000\n"
        )


@pytest.fixture
def serve(project: Path) -> Iterator[httpx.Client]:
    """`digest serve` as its own process, on a free port."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    process = start_serve(project / "digest.yaml", port, env=env, stdout=subprocess.DEVNULL)
    wait_until_serving(port, process)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    yield client
    client.close()
    process.terminate()
    process.wait(timeout=20)


def _arrived(server: Server, address: str, subject: str, count: int = 1) -> EmailMessage:
    """The ``count``-th message to ``address`` whose subject starts with ``subject``."""
    deadline = time.monotonic() + 15
    while True:
        found = [
            r.message
            for r in list(server.handler.received)
            if r.rcpt_tos == [address] and r.message["Subject"].startswith(subject)
        ]
        if len(found) >= count:
            return found[count - 1]
        assert time.monotonic() < deadline, f"no {subject!r} to {address}"
        time.sleep(0.05)


def _subscribe(client: httpx.Client, server: Server, address: str) -> None:
    """Subscribe through the form and press the confirmation's button."""
    assert client.post("/subscribe", data={"email": address}).status_code == 200
    confirmation = _arrived(server, address, "Confirm your subscription")
    body = confirmation.get_body(("plain",))
    assert body is not None
    link = re.search(r"https://news\.example\.org(/confirm/\S+)", body.get_content())
    assert link is not None
    assert client.post(link.group(1), data={"confirm": "yes"}).status_code == 200


def _welcomes(server: Server, address: str) -> list[EmailMessage]:
    return [
        r.message
        for r in list(server.handler.received)
        if r.rcpt_tos == [address] and r.message["Subject"].startswith("Welcome aboard")
    ]


@pytest.fixture
def smtp(project: Path, digest: Digest, servers: Callable[..., Server]) -> Server:
    server = servers()
    _set_up(project, server.port)
    assert digest("build").exit_code == 0  # issue #1, so there is a latest issue to link
    return server


def test_a_confirmed_reader_is_welcomed_once_over_smtp_with_the_latest_issue(
    project: Path, smtp: Server, serve: httpx.Client
) -> None:
    _subscribe(serve, smtp, "new@example.net")
    welcome = _arrived(smtp, "new@example.net", "Welcome aboard")
    assert welcome["Subject"] == "Welcome aboard, {name}"
    text = welcome.get_body(("plain",))
    html = welcome.get_body(("html",))
    assert text is not None and html is not None
    assert "https://news.example.org/issue-0001/" in text.get_content()
    assert "<strong>three</strong>" in html.get_content()
    assert welcome["List-Unsubscribe"].startswith("<https://news.example.org/unsubscribe/")

    # Unsubscribed and subscribed again: confirmed again, but no second welcome.
    token = welcome["List-Unsubscribe"].split("/unsubscribe/")[1].split(">")[0]
    one_click = {"List-Unsubscribe": "One-Click"}
    assert serve.post(f"/unsubscribe/{token}", data=one_click).status_code == 200
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        reader = book.find(state, "new@example.net")
        assert reader is not None and reader.status == "unsubscribed"
        # (serve sends one confirmation an hour per address: make the next link here)
        confirm = Tokens(server_key(config.settings.state)).make(reader, "confirm")
    assert serve.post(f"/confirm/{confirm}", data={"confirm": "yes"}).status_code == 200
    time.sleep(1.0)  # the welcome would go out after the response
    assert len(_welcomes(smtp, "new@example.net")) == 1
    with open_state(config.settings.state) as state:
        again = book.find(state, "new@example.net")
        assert again is not None and again.status == "active"  # confirmed again
    with sqlite3.connect(project / ".digest" / "state.db") as db:
        ((sent_at,),) = db.execute("SELECT sent_at FROM welcomes").fetchall()
    assert sent_at


def test_a_crash_after_handing_the_welcome_over_never_sends_it_again(
    project: Path, smtp: Server, serve: httpx.Client
) -> None:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        reader, _ = book.add(
            state, "early@example.net", source="form", now="2026-12-01", status="unconfirmed"
        )
        # What a process that died right after the server took the welcome leaves behind.
        assert welcomes.claim(state, reader.id, "<x@example.org>", "2026-12-01T09:00:00+00:00")
    _subscribe(serve, smtp, "early@example.net")
    time.sleep(1.0)
    assert _welcomes(smtp, "early@example.net") == []


def test_a_refused_welcome_is_tried_again_at_the_next_confirmation(
    project: Path, smtp: Server
) -> None:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        reader, _ = book.add(state, "later@example.net", source="form", now="2026-12-01")
    smtp.handler.behaviour.refuse["later@example.net"] = "450 4.2.0 mailbox busy"
    assert send_welcome(config, reader.id).outcome == "not sent"
    del smtp.handler.behaviour.refuse["later@example.net"]
    assert send_welcome(config, reader.id).outcome == "sent"
    assert send_welcome(config, reader.id).outcome == "sent before"
    assert len(_welcomes(smtp, "later@example.net")) == 1


def test_without_smtp_the_welcome_goes_to_outbox_welcomes(project: Path, digest: Digest) -> None:
    (project / "welcome.md").write_text(WELCOME, encoding="utf-8")
    with (project / "digest.yaml").open("a", encoding="utf-8") as config:
        config.write("welcome: welcome.md\n")
    assert digest("build").exit_code == 0
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        reader, _ = book.add(state, "nosmtp@example.net", source="form", now="2026-12-01")
    assert send_welcome(config, reader.id).outcome == "sent"
    (written,) = (project / "outbox" / "welcomes").glob("*.eml")
    assert b"Subject: Welcome aboard" in written.read_bytes()
    assert not (project / "outbox" / "notices").exists()


def test_check_names_a_missing_welcome_file(project: Path, digest: Digest) -> None:
    with (project / "digest.yaml").open("a", encoding="utf-8") as config:
        config.write("welcome: welcome.md\n")
    missing = digest("check")
    assert missing.exit_code == 1
    assert f"welcome: cannot read {project / 'welcome.md'}" in missing.output
    (project / "welcome.md").write_text(WELCOME, encoding="utf-8")
    present = digest("check")
    assert present.exit_code == 0, present.output
    assert "welcome.md is sent once to each reader who confirms" in present.output
