"""`--log-format json` on `run` and `serve`: one JSON object a line, each event named, with
its numbers as fields; the access log names the client behind the proxy and never a token."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from newsletter_digest.cli import cli
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
    assert {"slot.due", "issue.built", "send.started", "send.finished"} <= set(by_event)
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


def test_serve_logs_requests_as_events_without_tokens(project: Path, digest: Digest) -> None:
    configure_serve(project)
    _, token = reader_and_token(project)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "newsletter_digest", "--config", str(project / "digest.yaml"),
         "serve", "--port", str(port), "--log-format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "digest serve did not start"
                    time.sleep(0.1)
            answer = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert token not in err
    requests = [e for e in events(err) if e.get("event") == "http.request"]
    health = next(e for e in requests if e["path"] == "/healthz")
    assert health["client"].startswith("203.0.113.9")  # the proxy's X-Forwarded-For
    unsubscribe = next(e for e in requests if e["method"] == "POST")
    assert unsubscribe["path"] == "/unsubscribe/…" and unsubscribe["status"] == 200
