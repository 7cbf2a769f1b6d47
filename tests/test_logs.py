"""`--log-format json` on `run` and `serve`: one JSON object a line, each event named, with
its numbers as fields; the access log names the client behind the proxy and never a token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from newsletter_digest.cli import cli
from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.store import open_state
from serve_helpers import start_serve, wait_until_serving
from smtp_helpers import Behaviour, Server, configure, free_port
from test_serve import configure as configure_serve
from test_serve import reader_and_token

Digest = Callable[..., Result]
DUE_TODAY = 'schedule:\n  every: day\n  at: "00:00"\n  timezone: UTC\n  grace: 2d\n'


def events(text: str) -> list[dict[str, Any]]:
    """Every line parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_run_logs_each_step_as_a_json_event(project: Path, servers: Callable[..., Server]) -> None:
    smtp = servers(Behaviour())
    configure(project, smtp.port)
    config = project / "digest.yaml"
    config.write_text(config.read_text() + DUE_TODAY)
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "run", "--once", "--log-format", "json"])
    assert result.exit_code == 0, result.output
    logged = events(result.stderr)
    by_event = {e["event"]: e for e in logged if "event" in e}
    assert {"slot.due", "issue.built", "send.started", "send.finished", "slot.next"} <= set(
        by_event
    )
    assert by_event["issue.built"]["issue"] == 1
    finished = by_event["send.finished"]
    assert (finished["sent"], finished["failed"], finished["pending"]) == (5, 0, 0)
    assert all({"time", "level", "logger", "message"} <= set(e) for e in logged)


def test_run_logs_plain_lines_by_default(project: Path, servers: Callable[..., Server]) -> None:
    smtp = servers(Behaviour())
    configure(project, smtp.port)
    config = project / "digest.yaml"
    config.write_text(config.read_text() + DUE_TODAY)
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 0, result.output
    assert " INFO slot " in result.stderr and "issue #1 made" in result.stderr
    assert not result.stderr.lstrip().startswith("{")


def _serve_and_post(
    project: Path, *options: str, verbose: bool = False, new: str = "new@example.org"
) -> str:
    """Run `digest serve` as a process; subscribe, confirm and unsubscribe through it;
    return what it logged."""
    configure_serve(project, "serve:\n  subscribe: true\n")
    _, token = reader_and_token(project)
    port = free_port()
    server = start_serve(
        project / "digest.yaml", port, *options, verbose=verbose,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, as the journal gets both
        text=True,
    )  # fmt: skip
    try:
        wait_until_serving(port, headers={"X-Forwarded-For": "203.0.113.9"})
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            joined = client.post("/subscribe", data={"email": new})
            assert joined.status_code == 200
            confirm = _confirm_token(project, new)
            assert client.post(f"/confirm/{confirm}", data={"confirm": "yes"}).status_code == 200
            answer = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200
    finally:
        server.terminate()
        err, _ = server.communicate(timeout=10)
    assert token not in err and confirm not in err
    return err


def _confirm_token(project: Path, address: str) -> str:
    settings = load_config(project / "digest.yaml").settings
    with open_state(settings.state) as state:
        reader = book.find(state, address)
        assert reader is not None
        return Tokens(server_key(settings.state)).make(reader, "confirm")


def test_serve_logs_readers_and_requests_as_json_events(project: Path) -> None:
    logged = events(_serve_and_post(project, "--log-format", "json"))
    requests = [e for e in logged if e.get("event") == "http.request"]
    health = next(e for e in requests if e["path"] == "/healthz")
    assert health["client"].startswith("203.0.113.9")  # the proxy's X-Forwarded-For
    unsubscribe = next(e for e in requests if e["path"].startswith("/unsubscribe/"))
    assert unsubscribe["path"] == "/unsubscribe/…" and unsubscribe["status"] == 200
    readers = {e["event"]: e for e in logged if e.get("event", "").startswith("reader.")}
    assert set(readers) == {"reader.subscribed", "reader.confirmed", "reader.unsubscribed"}
    assert readers["reader.subscribed"]["reader"] == readers["reader.confirmed"]["reader"]
    assert isinstance(readers["reader.unsubscribed"]["reader"], int)
    assert "example.org" not in json.dumps(logged)  # ids, never addresses, without -v


def test_serve_logs_plain_lines_and_addresses_only_with_verbose(project: Path) -> None:
    plain = _serve_and_post(project)
    assert " INFO reader.subscribed: reader " in plain and "new@example.org" not in plain
    assert " INFO reader.unsubscribed: reader " in plain
    assert '"POST /unsubscribe/… HTTP/1.1" 200' in plain
    verbose = _serve_and_post(project, verbose=True, new="other@example.org")
    assert "reader.confirmed: reader" in verbose and "<other@example.org>" in verbose
