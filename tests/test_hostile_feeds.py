"""Hostile feed servers on 127.0.0.1: one that trickles a byte at a time, redirects to
loopback addresses and to other schemes. Each test runs under a time limit."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from newsletter_digest.content.importers.fetching import Address, redirect_problem
from test_importers import SOURCES

pytestmark = pytest.mark.timeout(60)
Digest = Callable[..., Result]
FEED = (SOURCES / "feed.xml").read_bytes()


class Trickler:
    """A server that answers every request one byte every half second, for ever: in the
    status line and headers ('headers'), or after whole headers, in the body ('body')."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/feed.xml"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n"
        data = (head if self.where == "headers" else b"") + FEED * 1000
        with conn:
            conn.recv(65536)
            if self.where == "body":
                conn.sendall(head)
            for byte in data:
                if self.stop.wait(0.5):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return


@pytest.fixture(params=["headers", "body"])
def trickler(request: pytest.FixtureRequest) -> Iterator[Trickler]:
    server = Trickler(request.param)
    yield server
    server.stop.set()
    server.listener.close()


def set_deadline(project: Path, seconds: float, extra: str = "") -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + f"imports:\n  fetch_deadline: {seconds}\n" + extra)


def test_a_trickling_feed_misses_the_deadline_in_import(
    project: Path, digest: Digest, trickler: Trickler
) -> None:
    set_deadline(project, 2)
    started = time.monotonic()
    result = digest("import", trickler.url)
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert "did not send the whole feed within 2 s" in result.output


def test_a_trickling_feed_source_is_reported_and_the_issue_goes_out(
    project: Path, digest: Digest, trickler: Trickler
) -> None:
    set_deadline(project, 2, f"sources:\n  - feed: {trickler.url}\n")
    started = time.monotonic()
    result = digest("build")
    assert time.monotonic() - started < 20
    assert result.exit_code == 0, result.output
    assert (project / "outbox" / "issue-0001").is_dir()
    assert "within 2 s (the issue goes out without it)" in result.output
    assert "last error:" in digest("sources").output


class _Web(http.server.BaseHTTPRequestHandler):
    """Serves the feed, or redirects to ``self.server.redirect`` when it is set; as a proxy
    too (a request line with an absolute URL). Every request line is recorded."""

    def do_GET(self) -> None:
        server: Web = self.server  # type: ignore[assignment]
        server.requests.append(self.path)
        target = server.redirect(self.path) if server.redirect else None
        if target:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Web(http.server.ThreadingHTTPServer):
    def __init__(self, redirect: Callable[[str], str | None] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Web)
        self.redirect = redirect
        self.requests: list[str] = []
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def web() -> Iterator[Callable[..., Web]]:
    started: list[Web] = []

    def start(redirect: Callable[[str], str | None] | None = None) -> Web:
        started.append(Web(redirect))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_a_loopback_feed_may_redirect_to_another_loopback_port(
    project: Path, digest: Digest, web: Callable[..., Web]
) -> None:
    internal = web()
    moved = web(lambda path: f"{internal.base}/feed.xml")
    result = digest("import", f"{moved.base}/old.xml")
    assert result.exit_code == 0, result.output
    assert internal.requests == ["/feed.xml"]


def test_a_redirect_from_a_named_host_to_loopback_is_refused(
    project: Path, digest: Digest, web: Callable[..., Web], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The configured URL names a host that is not loopback (it does not resolve here, so
    it counts as public); the request goes through a proxy on 127.0.0.1, which answers
    for that host with a redirect to 127.0.0.1. What this proves: the redirect is checked
    by its target's address and refused, and no request for the loopback target leaves.
    (It does not prove anything about DNS answers that change between check and connect.)"""
    secret = web()
    proxy = web(lambda path: f"{secret.base}/feed.xml" if "feeds.example.test" in path else None)
    monkeypatch.setenv("HTTP_PROXY", proxy.base)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    before = sorted((project / "content").iterdir())
    result = digest("import", "http://feeds.example.test/feed.xml")
    assert result.exit_code == 1, result.output
    assert "is not followed: 127.0.0.1 is a loopback" in result.output
    assert proxy.requests == ["http://feeds.example.test/feed.xml"]  # nothing else asked
    assert secret.requests == []
    assert sorted((project / "content").iterdir()) == before


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "gopher://127.0.0.1:70/"]
)
def test_a_redirect_to_another_scheme_is_refused(
    project: Path, digest: Digest, web: Callable[..., Web], target: str
) -> None:
    moved = web(lambda path: target)
    result = digest("import", f"{moved.base}/feed.xml")
    assert result.exit_code == 1
    assert "only http and https are followed" in result.output


PUBLIC_ORIGIN = "https://feeds.example.org/feed.xml"
NON_PUBLIC = [
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "100.64.0.0/10", "0.0.0.0/8", "::1/128", "fe80::/10", "fc00::/7", "::ffff:127.0.0.0/104",
]  # fmt: skip


@st.composite
def non_public(draw: st.DrawFn) -> Address:
    network = ipaddress.ip_network(draw(st.sampled_from(NON_PUBLIC)))
    offset = draw(st.integers(0, network.num_addresses - 1))
    return network[offset]


def resolver(table: dict[str, list[Address]]) -> Callable[[str], list[Address]]:
    """Host names as a DNS answer would give them; an address literal is itself."""

    def addresses(host: str) -> list[Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            return table.get(host, [])

    return addresses


PUBLIC_DNS = {"feeds.example.org": [ipaddress.ip_address("93.184.216.34")]}


@given(non_public(), st.sampled_from(["http", "https"]))
def test_redirects_to_non_public_addresses_are_refused(address: Address, scheme: str) -> None:
    host = f"[{address}]" if address.version == 6 else str(address)
    target = f"{scheme}://{host}:8080/feed"
    assert redirect_problem(PUBLIC_ORIGIN, target, resolver(PUBLIC_DNS))
    # The same address behind a name, among public ones, is refused as well.
    table = PUBLIC_DNS | {"cdn.example.net": [ipaddress.ip_address("8.8.8.8"), address]}
    assert redirect_problem(PUBLIC_ORIGIN, "https://cdn.example.net/f", resolver(table))
    # From a configured URL that is itself loopback or private, it is followed.
    local = f"http://{host}/feed.xml"
    assert redirect_problem(local, target.replace(":8080", ":9090"), resolver({})) == ""


@given(st.ip_addresses())
def test_a_redirect_is_followed_exactly_to_public_addresses(address: Address) -> None:
    host = f"[{address}]" if address.version == 6 else str(address)
    refused = bool(redirect_problem(PUBLIC_ORIGIN, f"http://{host}/f", resolver(PUBLIC_DNS)))
    assert refused is (not address.is_global)


@given(st.sampled_from(["file", "ftp", "javascript", "data", "gopher", "mailto"]))
def test_only_http_and_https_redirects_are_followed(scheme: str) -> None:
    for origin in (PUBLIC_ORIGIN, "http://127.0.0.1/feed.xml"):
        assert "only http and https" in redirect_problem(
            origin, f"{scheme}://feeds.example.org/x", resolver(PUBLIC_DNS)
        )


def test_the_named_host_may_redirect_to_itself() -> None:
    addresses = resolver(PUBLIC_DNS)
    assert redirect_problem(PUBLIC_ORIGIN, "http://feeds.example.org:8443/new", addresses) == ""
