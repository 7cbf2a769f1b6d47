"""The preview's "Send test" button over HTTP, against the real preview server: the POST the
button makes sends the issue on screen to a real SMTP server and records nothing."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from newsletter_digest.config.loading import load_config
from newsletter_digest.web.preview import PreviewServer
from smtp_helpers import Server, configure


def _files(project: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file()
    }


def _request(
    server: PreviewServer,
    method: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    host = f"127.0.0.1:{server.port}"
    sent = {"Host": host, "Origin": f"http://{host}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, "/api/test-send", body=data, headers=sent | (headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def smtp_preview(
    project: Path, servers: Callable[..., Server]
) -> Iterator[tuple[PreviewServer, Server]]:
    smtp = servers()
    configure(project, smtp.port)
    preview = PreviewServer(load_config(project / "digest.yaml"), port=0, watch=False)
    preview.start()
    yield preview, smtp
    preview.stop()


def test_the_button_sends_the_next_issue_to_the_sink_and_records_nothing(
    project: Path, smtp_preview: tuple[PreviewServer, Server]
) -> None:
    preview, smtp = smtp_preview
    status, offer = _request(preview, "GET")
    assert status == 200
    assert json.loads(offer) == {"enabled": True, "reason": "", "suggest": "news@example.org"}
    before = _files(project)
    status, body = _request(preview, "POST", {"view": "next", "addresses": ["me@example.net"]})
    assert status == 200, body
    answer = json.loads(body)
    assert answer["sent"] is True
    assert answer["outcomes"][0]["address"] == "me@example.net"
    assert smtp.handler.wait_for(1)
    (received,) = smtp.handler.received
    assert received.rcpt_tos == ["me@example.net"]
    assert received.message["Subject"].startswith("[test] Test Weekly #1: ")
    assert _files(project) == before  # no issue, reader, delivery or cache recorded


def test_the_button_refuses_other_sites_other_bodies_and_unknown_issues(
    smtp_preview: tuple[PreviewServer, Server],
) -> None:
    preview, smtp = smtp_preview
    good = {"view": "next", "addresses": ["me@example.net"]}
    assert _request(preview, "POST", good, {"Origin": "http://evil.example"})[0] == 403
    assert _request(preview, "POST", good, {"Host": "evil.example"})[0] == 403
    assert _request(preview, "POST", good, {"Content-Type": "text/plain"})[0] == 415
    assert _request(preview, "POST", {"view": "next", "addresses": []})[0] == 400
    assert _request(preview, "POST", {"view": "../x", "addresses": ["a@b.org"]})[0] == 400
    status, body = _request(preview, "POST", {"view": "issues/9", "addresses": ["a@b.org"]})
    assert status == 409 and b"there is no issue #9" in body
    status, body = _request(preview, "POST", {"view": "next", "addresses": ["not an address"]})
    assert status == 409 and b"not an address" in body
    assert smtp.handler.received == []


def test_without_smtp_the_button_is_not_offered_and_says_what_to_do(
    project: Path, preview: PreviewServer
) -> None:
    status, offer = _request(preview, "GET")
    assert status == 200 and json.loads(offer)["enabled"] is False
    assert "smtp section" in json.loads(offer)["reason"]
    status, body = _request(preview, "POST", {"view": "next", "addresses": ["me@example.net"]})
    assert status == 409 and b"smtp section" in body
