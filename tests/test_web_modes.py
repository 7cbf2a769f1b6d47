"""One web stack, two modes: the preview and `digest serve` are the same Starlette app on
uvicorn with the same middleware. Live reload over Server-Sent Events, the preview's
Host/loopback guard, one set of security headers, the same --host/--port flags, and state
calls that never stall the event loop."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner, Result

from conftest import write_excerpt
from newsletter_digest.cli import cli
from newsletter_digest.clock import local_now
from newsletter_digest.config.loading import load_config
from newsletter_digest.web.preview import PreviewServer
from newsletter_digest.web.preview_routes import PreviewSite, create_preview_app
from smtp_helpers import configure as smtp_configure
from test_serve import Running, configure, hold_write_lock

Digest = Callable[..., Result]
SECURITY = (
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "cross-origin-resource-policy",
)


@pytest.fixture
def served(project: Path, digest: Digest) -> Iterator[Running]:
    """`digest serve`'s app with the subscribe form on, after one build."""
    configure(project, "serve:\n  subscribe: true\n  requests_per_minute: 10000\n")
    assert digest("build").exit_code == 0
    running = Running(project)
    yield running
    running.stop()


def next_event(lines: Iterator[str]) -> tuple[str, str]:
    """The next event of a Server-Sent Events stream: (its name, its data)."""
    name, data = "message", ""
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            return name, data
    raise EOFError("the event stream ended")


def test_an_event_stream_client_is_told_when_a_content_file_changes(
    preview: PreviewServer, project: Path
) -> None:
    url = f"http://127.0.0.1:{preview.port}/events"
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", url, headers={"Host": f"localhost:{preview.port}"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        name, first = next_event(lines)
        assert name == "version"
        write_excerpt(project / "content", "post-1", "Changed while someone watches")
        name, second = next_event(lines)
    assert name == "version" and second != first
    assert second == preview.version


def test_the_preview_refuses_a_foreign_host_that_serve_answers(
    preview: PreviewServer, served: Running
) -> None:
    """The preview's guard is its own middleware: the public server (behind a proxy, any
    Host) answers the same request."""
    foreign = {"Host": "rebound.evil.example"}
    refused = httpx.get(f"http://127.0.0.1:{preview.port}/api/next", headers=foreign)
    assert refused.status_code == 403 and "Host refused" in refused.text
    assert served.client.get("/healthz", headers=foreign).status_code == 200


def ask(app: object, client: str, host: str = "localhost") -> httpx.Response:
    """GET / from ``client``'s address, through the app's ASGI interface (no socket can
    come from another machine in a test)."""

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as http:
            return await http.get("/")

    return anyio.run(get)


def test_a_preview_on_loopback_refuses_clients_of_other_machines(project: Path) -> None:
    site = PreviewSite(load_config(project / "digest.yaml"), local_now)
    local = create_preview_app(site, "127.0.0.1")
    assert ask(local, "127.0.0.1").status_code == 200
    refused = ask(local, "192.0.2.7")
    assert refused.status_code == 403 and "only answers to this machine" in refused.text
    assert ask(local, "127.0.0.1", host="evil.example").status_code == 403
    opened = create_preview_app(site, "0.0.0.0")  # --host 0.0.0.0: the network may look
    assert ask(opened, "192.0.2.7", host="192.0.2.2").status_code == 200
    assert ask(opened, "192.0.2.7", host="evil.example").status_code == 403


def security(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in SECURITY}


def test_security_headers_are_the_same_in_both_modes(
    preview: PreviewServer, served: Running
) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{preview.port}", timeout=30) as local:
        shown = [local.get(path) for path in ("/api/next", "/nowhere", "/static/preview.js")]
    public = [served.client.get(path) for path in ("/healthz", "/nowhere", "/feed.xml")]
    expected = security(public[0])
    assert all(expected.values()), expected
    assert expected["x-frame-options"] == "DENY"
    assert "script-src" not in str(expected["content-security-policy"])
    for response in shown + public:
        assert security(response) == expected, response.url
    page = served.client.get("/subscribe")
    assert security(page) == expected


def test_waiting_state_writes_do_not_stall_the_archive_or_the_health_check(
    served: Running, project: Path
) -> None:
    """Sixty sign-ups wait for the write lock a build holds (each up to the busy
    timeout, in worker threads); the archive and /healthz keep answering at once."""
    base = f"http://127.0.0.1:{served.port}"
    codes: list[int] = []

    def sign_up(n: int) -> None:
        form = {"email": f"waiting-{n}@example.net"}
        codes.append(httpx.post(f"{base}/subscribe", data=form, timeout=90).status_code)

    holder = hold_write_lock(project)
    waiting = [threading.Thread(target=sign_up, args=(n,)) for n in range(60)]
    try:
        for thread in waiting:
            thread.start()
        time.sleep(1.0)  # they are all waiting for the lock now
        for path in ("/", "/healthz", "/issue-0001/", "/feed.xml") * 3:
            asked = time.monotonic()
            assert served.client.get(path).status_code == 200, path
            assert time.monotonic() - asked < 1.0, f"{path} stalled"
    finally:
        holder.rollback()  # the build ends
        holder.close()
        for thread in waiting:
            thread.join(90)
    assert codes == [200] * 60


def flag_help(command: str) -> dict[str, str]:
    """The --host and --port lines of ``digest COMMAND --help``, defaults left out."""
    output = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
    lines = {}
    for flag in ("--host", "--port"):
        line = next(line for line in output.splitlines() if line.strip().startswith(flag))
        lines[flag] = " ".join(re.sub(r"\[default: [^]]*\]", "", line).split())
    return lines


def test_preview_and_serve_take_the_same_host_and_port_flags(digest: Digest) -> None:
    assert flag_help("preview") == flag_help("serve")
    assert "ADDRESS" in flag_help("serve")["--host"]
    for command in ("preview", "serve"):
        for bad in (["--port", "70000"], ["--host", "http://example.org"], ["--host", "::1:80:x"]):
            result = digest(command, *bad)
            assert result.exit_code == 2, (command, bad, result.output)
            assert "Invalid value" in result.output
        bad_host = digest(command, "--host", "127.0.0.1:8000")
        assert "not an IP address or a host name" in bad_host.output


@pytest.fixture
def stalled_relay() -> Iterator[socket.socket]:
    """An SMTP relay that takes connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        yield sock


def test_confirmations_stuck_on_a_stalled_relay_do_not_stall_the_archive_or_the_health_check(
    project: Path, digest: Digest, stalled_relay: socket.socket
) -> None:
    """Each sign-up's confirmation goes out after the answer and waits for a relay that
    never answers; sixty of them hold threads of their own, not the archive's."""
    smtp_configure(project, stalled_relay.getsockname()[1])
    configure(project, "serve:\n  subscribe: true\n  requests_per_minute: 10000\n")
    assert digest("build", "--no-send").exit_code == 0
    running = Running(project)

    def sign_up(n: int) -> int:
        form = {"email": f"stuck-{n}@example.net"}
        return running.client.post("/subscribe", data=form).status_code

    try:
        with ThreadPoolExecutor(20) as pool:
            assert list(pool.map(sign_up, range(60))) == [200] * 60
        time.sleep(0.3)  # their confirmations are waiting for the relay now (5 s each)
        for path in ("/", "/healthz", "/issue-0001/", "/feed.xml") * 3:
            asked = time.monotonic()
            assert running.client.get(path).status_code == 200, path
            assert time.monotonic() - asked < 1.0, f"{path} stalled"
    finally:
        stalled_relay.close()  # the relay goes away: the confirmations fail at once
        running.stop()
