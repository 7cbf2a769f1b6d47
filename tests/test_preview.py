"""The preview server over HTTP: what it shows, what it refuses, and that it changes nothing."""

from __future__ import annotations

import email
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import wait_for, write_excerpt
from newsletter_digest.app.issues import Plan, outbox_recipient, plan_next
from newsletter_digest.cli import cli
from newsletter_digest.config.loading import load_config
from newsletter_digest.models import RenderedIssue
from newsletter_digest.render.personal import personalize
from newsletter_digest.state.store import open_state
from newsletter_digest.web.preview import PreviewServer

Digest = Callable[..., Result]
Response = tuple[int, dict[str, str], bytes]


@pytest.fixture
def server(project: Path) -> Iterator[PreviewServer]:
    """A running preview of the test project on a free port."""
    (project / "templates").mkdir(exist_ok=True)
    preview = PreviewServer(load_config(project / "digest.yaml"), port=0)
    preview.start()
    yield preview
    preview.stop()


def get(server: PreviewServer, path: str, host: str | None = None) -> Response:
    """GET ``path`` exactly as written (no normalising), with a chosen Host header."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{server.port}"})
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


def api(server: PreviewServer, path: str = "/api/next") -> dict[str, Any]:
    status, _, body = get(server, path)
    assert status == 200, body
    data: dict[str, Any] = json.loads(body)
    return data


def expected(project: Path, skip: int = 0) -> tuple[Plan, RenderedIssue]:
    """What ``digest build`` would make next (or ``skip`` issues later), as the outbox gets it."""
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state, readonly=True) as state:
        plan = plan_next(config, state, date.today(), use_cache=False, skip=skip)
    return plan, personalize(plan.rendered, outbox_recipient(config))


def parts(eml: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(eml, policy=policy.default)
    assert isinstance(message, EmailMessage)
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    return lines(html.get_content()), lines(text.get_content())


def lines(value: str) -> str:
    """Text with LF line ends and no trailing newline (the message has CRLF and adds one)."""
    return value.replace("\r\n", "\n").rstrip("\n")


def tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and mtime: proof that nothing was written."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_preview_shows_exactly_the_issue_build_then_makes(
    server: PreviewServer, project: Path, digest: Digest
) -> None:
    plan, rendered = expected(project)
    data = api(server)
    assert data["label"] == "Next issue #1" and data["error"] is None
    assert data["headers"]["subject"] == rendered.subject
    assert data["headers"]["from_name"] == "Test Weekly"
    assert data["headers"]["to"] == "reader@example.org"
    assert data["headers"]["preheader"] == rendered.preheader
    assert data["text"] == rendered.text
    titles = [e.title for e in plan.selection.excerpts]
    assert [line.split(". ", 1)[1].split("  [")[0] for line in data["excerpts"]] == titles
    status, headers, eml = get(server, "/eml/next")
    assert status == 200 and headers["content-type"] == "message/rfc822"
    assert digest("build").exit_code == 0
    folder = project / "outbox" / "issue-0001"
    html, text = parts(eml)
    assert html == lines((folder / "issue-0001.html").read_text(encoding="utf-8"))
    assert text == lines((folder / "issue-0001.txt").read_text(encoding="utf-8"))


def test_the_checks_panel_is_computed_from_the_message(server: PreviewServer) -> None:
    checks = {c["name"]: c for c in api(server)["checks"]}
    assert set(checks) == {
        "HTML size",
        "Preheader",
        "Plain-text part",
        "List-Unsubscribe",
        "Links",
        "Image alt text",
        "Subject length",
    }
    assert checks["List-Unsubscribe"]["status"] == "ok"
    assert checks["List-Unsubscribe"]["detail"] == "<https://example.org/unsubscribe>"
    assert checks["Plain-text part"]["status"] == "ok"
    assert "of Gmail's 102 KB limit" in checks["HTML size"]["detail"]


def test_skip_forecasts_the_issues_after_next(server: PreviewServer, project: Path) -> None:
    first, second = api(server, "/api/next"), api(server, "/api/next?skip=1")
    assert (first["number"], second["number"]) == (1, 2)
    assert second["label"] == "Issue after next #2"
    assert set(first["excerpts"]).isdisjoint(second["excerpts"])
    _, rendered = expected(project, skip=1)
    assert second["headers"]["subject"] == rendered.subject
    assert get(server, "/api/next?skip=x")[0] == 400
    assert get(server, "/api/next?skip=1000")[0] == 400
    assert get(server, "/api/next?skip=%C2%B2")[0] == 400


def test_past_issues_come_from_the_outbox_and_a_build_moves_next_on(
    server: PreviewServer, project: Path, digest: Digest
) -> None:
    before = api(server)
    assert digest("build").exit_code == 0
    past = api(server, "/api/issues/1")
    assert past["label"] == "Past issue #1" and past["headers"] == before["headers"] | {
        "date": past["headers"]["date"]
    }
    status, _, frame = get(server, "/frame/issues/1")
    assert status == 200 and b"Post number" in frame
    # The build was noticed without a reload: the next issue is now #2.
    wait_for(lambda: api(server)["number"] == 2)
    assert api(server)["nav"]["issues"] == [1]
    status, _, body = get(server, "/api/issues/7")
    missing = json.loads(body)
    assert status == 404 and "issue #7 is not in the outbox" in missing["error"]["message"]


def test_the_email_frame_is_sandboxed_and_shows_dark_mode_on_request(
    server: PreviewServer,
) -> None:
    status, headers, body = get(server, "/frame/next?scheme=dark")
    assert status == 200
    csp = headers["content-security-policy"]
    assert "sandbox" in csp and "allow-scripts" not in csp and "script-src" not in csp
    assert csp.startswith("default-src 'none'")
    page = body.decode()
    assert "prefers-color-scheme" not in page
    assert "color-scheme: dark !important" in page
    light = get(server, "/frame/next?scheme=light")[2].decode()
    assert "color-scheme: light !important" in light
    assert get(server, "/frame/next?scheme=blue")[0] == 400
    status, headers, body = get(server, "/")
    assert status == 200 and b'sandbox="allow-popups' in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert b"allow-scripts" not in body


def test_excerpt_content_is_escaped(server: PreviewServer, project: Path) -> None:
    for old in (project / "content").glob("*.md"):
        old.unlink()
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    for n in range(3):
        write_excerpt(project / "content", f"evil-{n}", f"{evil} {n}", body=f"{evil} body")
    server.changed()
    data = api(server)
    assert any(evil in line for line in data["excerpts"])
    frame = get(server, "/frame/next")[2].decode()
    elements = Elements()
    elements.feed(frame)
    assert "script" not in elements.tags and "img" not in elements.tags
    assert not [name for name in elements.attributes if name.startswith("on")]
    assert f"{evil} body" in elements.text


class Elements(HTMLParser):
    """The tags, attribute names and text of a document, as a browser parses it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text += data


TRAVERSALS = [
    "/../secret.txt",
    "/static/../../secret.txt",
    "/static/%2e%2e/%2e%2e/secret.txt",
    "/static/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/static/..%2f..%2fsecret.txt",
    "/static/%252e%252e%252f%252e%252e%252fsecret.txt",
    "/static/..\\..\\secret.txt",
    "/static/preview.css/../../../secret.txt",
    "/static//etc/passwd",
    "//etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/issues/..%2f..%2fsecret.txt",
    "/issues/1/../../../secret.txt",
    "/api/issues/..%2f..%2f..%2fsecret.txt",
    "/frame/issues/%2e%2e",
    "/api/issues/1%00",
    "/eml/issues/0",
    "/content/post-1.md",
    "/digest.yaml",
    "/.digest/state.db",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_outside_the_routes_is_served(
    server: PreviewServer, project: Path, path: str
) -> None:
    (project.parent / "secret.txt").write_text("TOP SECRET", encoding="utf-8")
    status, _, body = get(server, path)
    assert status in (400, 404), (status, body[:200])
    assert b"TOP SECRET" not in body and b"root:" not in body and b"title:" not in body


def test_an_issue_folder_symlinked_out_of_the_outbox_is_not_served(
    server: PreviewServer, project: Path, digest: Digest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert digest("build").exit_code == 0
    outside = tmp_path_factory.mktemp("outside")
    real = project / "outbox" / "issue-0001"
    eml = (real / "issue-0001.eml").read_bytes().replace(b"Post number", b"TOP SECRET")
    (outside / "issue-0002").mkdir()
    (outside / "issue-0002" / "issue-0002.eml").write_bytes(eml)
    (project / "outbox" / "issue-0002").symlink_to(outside / "issue-0002")
    (outside / "stolen.eml").write_bytes(eml)
    (project / "outbox" / "issue-0003").mkdir()
    (project / "outbox" / "issue-0003" / "issue-0003.eml").symlink_to(outside / "stolen.eml")
    for path in ("/api/issues/2", "/frame/issues/2", "/eml/issues/2", "/api/issues/3"):
        status, _, body = get(server, path)
        assert status == 404 and b"TOP SECRET" not in body, path
    assert get(server, "/api/issues/1")[0] == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "localhost.evil.example"]
)
def test_a_foreign_host_header_is_refused(server: PreviewServer, host: str) -> None:
    for path in ("/", "/api/next", "/frame/next", "/events"):
        status, _, body = get(server, path, host=host)
        assert status == 403 and b"Host refused" in body


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]"])
def test_local_host_names_are_served(server: PreviewServer, name: str) -> None:
    assert get(server, "/", host=f"{name}:{server.port}")[0] == 200


def test_a_request_without_host_header_is_refused(server: PreviewServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /api/next HTTP/1.0\r\n\r\n")
        reply = sock.makefile("rb").read()
    # uvicorn (h11) answers an HTTP/1.0 request in HTTP/1.1, as RFC 9110 allows.
    assert reply.startswith((b"HTTP/1.0 403", b"HTTP/1.1 403")) and b"Host refused" in reply


def test_preview_requests_leave_the_project_unchanged(project: Path, digest: Digest) -> None:
    assert digest("build").exit_code == 0
    before = tree(project)
    preview = PreviewServer(load_config(project / "digest.yaml"), port=0)
    with preview:
        paths = ["/", "/api/next", "/api/next?skip=3", "/api/issues/1", "/eml/next"]
        paths += ["/frame/next?scheme=dark", "/frame/issues/1", "/static/preview.js"]
        for path in paths:
            assert get(preview, path)[0] == 200, path
        preview.changed()
        assert get(preview, "/api/next")[0] == 200
    assert tree(project) == before
    assert not (project / ".digest" / "content-cache.pickle").exists()


def test_a_project_without_state_gets_none(server: PreviewServer, project: Path) -> None:
    assert api(server)["number"] == 1
    assert not (project / ".digest").exists() and not (project / "outbox").exists()


def events(server: PreviewServer) -> tuple[http.client.HTTPConnection, Callable[[], str]]:
    """Open ``/events``; the function returns the next version the server announces."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/events", headers={"Host": f"localhost:{server.port}"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")

    def next_version() -> str:
        while line := response.readline():
            if line.startswith(b"data: "):
                return line[6:].strip().decode()
        raise EOFError("the event stream ended")

    return conn, next_version


def test_an_edit_is_announced_and_a_broken_template_shows_its_error_until_fixed(
    server: PreviewServer, project: Path
) -> None:
    conn, next_version = events(server)
    try:
        first = next_version()
        title = api(server)["excerpts"][0].split(". ", 1)[1].split("  [")[0]
        stem = next(p.stem for p in (project / "content").glob("*.md") if title in p.read_text())
        write_excerpt(project / "content", stem, "Edited while previewing")
        second = next_version()
        assert second != first
        assert any("Edited while previewing" in line for line in api(server)["excerpts"])

        broken = project / "templates" / "digest.mjml.j2"
        broken.write_text("<mjml>\n<mj-body>\n{% if %}\n</mj-body>\n</mjml>\n", encoding="utf-8")
        next_version()
        failed = api(server)
        error = failed["error"]
        assert error is not None and "digest.mjml.j2, line 3" in error["message"]
        assert failed["label"] == "Next issue #1" and failed["nav"]["next"] == 1
        _, _, frame = get(server, "/frame/next")
        assert b"digest.mjml.j2, line 3" in frame

        broken.unlink()
        next_version()
        wait_for(lambda: api(server)["error"] is None)
    finally:
        conn.close()


def test_a_config_edit_is_followed(server: PreviewServer, project: Path) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("Test Weekly", "Renamed Weekly"))
    wait_for(lambda: api(server)["title"] == "Renamed Weekly")
    config.write_text("title: [unclosed\n")
    wait_for(lambda: api(server)["error"] is not None)
    assert "digest.yaml" in api(server)["error"]["message"]


def test_stop_ends_open_event_streams(project: Path) -> None:
    preview = PreviewServer(load_config(project / "digest.yaml"), port=0)
    preview.start()
    conn, next_version = events(preview)
    next_version()
    started = time.monotonic()
    preview.stop()
    with pytest.raises((EOFError, ConnectionError)):
        next_version()
    conn.close()
    assert time.monotonic() - started < 5


def test_cli_help_names_the_options() -> None:
    result = CliRunner().invoke(cli, ["preview", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--no-open" in result.output and "--host" in result.output


def test_cli_reports_a_busy_port(digest: Digest) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = digest("preview", "--no-open", "--port", str(busy.getsockname()[1]))
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1:" in result.output and "hint:" in result.output


def test_cli_serves_until_ctrl_c(project: Path) -> None:
    digest = Path(sys.executable).with_name("digest")
    command = [str(digest), "--config", str(project / "digest.yaml"), "preview", "--no-open"]
    proc = subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Previewing Test Weekly at http://127.0.0.1:"), first
        port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/next")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "preview stopped" in out and "Traceback" not in err
