"""``digest preview``: a local web server that shows the next issue, live, changing nothing.

Standard library only (``http.server``). The page is static (``static/preview.*``) and fills
itself from ``/api/...`` JSON with ``textContent``; the email goes into sandboxed iframes
(``/frame/...``) that run no scripts. A watcher bumps a version on every change to the
config, content or templates, and Server-Sent Events (``/events``) tell open pages to refetch.

With SMTP configured, the page offers a "Send test" button: a JSON POST to
``/api/test-send`` from the page's own origin sends the issue on screen as ``digest send
--test`` does (web/trysend.py), recording nothing.

Safety: a fixed set of routes (no request path is ever turned into a file name), a Host
header naming another site is refused (DNS rebinding), past issues are read only from inside
the outbox, the state is opened read-only and nothing is ever written.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import signal
import socket
import socketserver
import sys
import threading
import traceback
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from newsletter_digest.clock import local_now
from newsletter_digest.config.loading import Config
from newsletter_digest.errors import PreviewError
from newsletter_digest.models import folder_name
from newsletter_digest.web import trysend
from newsletter_digest.web.views import (
    MAX_SKIP,
    Snapshot,
    View,
    error_document,
    frame_document,
    take,
)
from newsletter_digest.web.watch import Watcher

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
KEEPALIVE_S = 15.0
CACHE_VIEWS = 64
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
ASSETS = {
    "preview.html": "text/html; charset=utf-8",
    "preview.css": "text/css; charset=utf-8",
    "preview.js": "text/javascript; charset=utf-8",
}
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
# The email: its own inline styles and remote images, no scripts, no forms, no plugins.
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; "
    "font-src data:; frame-ancestors 'self'; form-action 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
COMMON_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_VIEW = r"/(?P<kind>next|issues/(?P<number>[0-9]{1,9}))"
ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/|/next|/issues/[0-9]{1,9}"), "page"),
    (re.compile(r"/api" + _VIEW), "api"),
    (re.compile(r"/frame" + _VIEW), "frame"),
    (re.compile(r"/eml" + _VIEW), "eml"),
    (re.compile(r"/events"), "events"),
    (re.compile(r"/api/test-send"), "test_send_status"),
    (re.compile(r"/static/(?P<asset>preview\.(?:css|js))"), "asset"),
)


def _ignore(message: str) -> None:
    """Default for ``warn``: say nothing."""


class RequestError(Exception):
    """A request the preview cannot answer: the status and a short reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its preview and does no reverse DNS at bind."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], preview: PreviewServer) -> None:
        self.preview = preview
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's getfqdn(), which can stall on a machine without DNS."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class PreviewServer:
    """The preview's HTTP server and file watcher; :meth:`start` runs them in threads."""

    def __init__(
        self,
        config: Config,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        watch: bool = True,
        warn: Callable[[str], None] = _ignore,
        clock: Callable[[], datetime] = local_now,
    ) -> None:
        """Bind the socket (so a busy port fails here) without serving yet."""
        self.config = config
        self.host = host
        self.warn = warn
        self._clock = clock
        self._token = secrets.token_hex(4)
        self._changes = 0
        self._closing = False
        self._changed = threading.Condition()
        self._render_lock = threading.Lock()
        self._cache: dict[tuple[View, str], Snapshot] = {}
        package = resources.files("newsletter_digest") / "static"
        self.assets = {name: (package / name).read_bytes() for name in ASSETS}
        try:
            self._httpd = _HTTPServer((host, port), self)
        except OSError as e:
            raise PreviewError(
                f"cannot listen on {host}:{port}: {e.strerror or e}",
                "another program uses that port: pass --port with another one "
                "(--port 0 picks a free one)"
                if port
                else "pass --host with an address of this machine",
            ) from e
        self._watcher = Watcher(config, self.changed, warn) if watch else None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Where to point a browser."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def version(self) -> str:
        """Changes with every change to the sources, and with every server start."""
        return f"{self._token}-{self._changes}"

    def start(self) -> None:
        """Start watching and serving, each in a thread; returns at once."""
        if self._watcher is not None:
            self._watcher.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="digest-preview",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (open event streams end too) and watching; close the socket."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._watcher is not None:
            self._watcher.stop()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> PreviewServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def changed(self) -> None:
        """Forget every snapshot and tell open pages to fetch the issue again."""
        with self._render_lock, self._changed:
            self._cache.clear()
            self._changes += 1
            self._changed.notify_all()

    def snapshot(self, view: View) -> tuple[str, Snapshot]:
        """The current version and ``view`` made for it (once per version and day)."""
        with self._render_lock:
            now = self._clock()
            key = (view, now.date().isoformat())
            found = self._cache.get(key)
            if found is None:
                if len(self._cache) >= CACHE_VIEWS:
                    self._cache.clear()
                found = self._cache[key] = take(self.config.path, view, now)
            return self.version, found

    def wait_change(self, seen: str | None, timeout: float) -> str | None:
        """Wait until the version is not ``seen`` (or ``timeout``); None once stopping."""
        with self._changed:
            self._changed.wait_for(lambda: self._closing or self.version != seen, timeout)
            return None if self._closing else self.version

    def now(self) -> datetime:
        """The preview's clock (a test send is dated by it, as the issue on screen is)."""
        return self._clock()

    def host_allowed(self, header: str | None) -> bool:
        """Only names of this machine or IP addresses: no DNS name can be rebound to us."""
        if not header:
            return False
        host = header.strip().lower()
        name = host[: host.find("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
        if name in LOCAL_NAMES or name in (self.host.lower(), f"[{self.host.lower()}]"):
            return True
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return True


def _view(match: re.Match[str], query: dict[str, list[str]]) -> View:
    """The view a route names: ``next`` (with ``?skip=K``) or ``issues/N``."""
    if match.group("number") is not None:
        number = int(match.group("number"))
        if number < 1:
            raise RequestError(404, "issue numbers start at 1")
        return View("issue", number)
    skip = query.get("skip", ["0"])[-1]
    if not (skip.isascii() and skip.isdigit()) or int(skip) > MAX_SKIP:
        raise RequestError(400, f"skip must be a whole number from 0 to {MAX_SKIP}")
    return View("next", int(skip))


class _Handler(BaseHTTPRequestHandler):
    """One request: check the Host, match a route, answer; never touches a file by name."""

    server: _HTTPServer
    server_version = "digest-preview"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the terminal quiet; errors are reported through the server's ``warn``."""

    def do_GET(self) -> None:
        """Answer a GET."""
        self._handle(body=True)

    def do_HEAD(self) -> None:
        """Answer a HEAD: the headers a GET would send."""
        self._handle(body=False)

    def do_POST(self) -> None:
        """The one POST: the "Send test" button (JSON, from this preview's own page)."""
        preview = self.server.preview
        with self._answering(body=True):
            host = self.headers.get("Host")
            if not preview.host_allowed(host):
                raise RequestError(403, "this preview only answers to localhost (Host refused)")
            if urlsplit(self.path).path != "/api/test-send":
                raise RequestError(404, "not found")
            if self.headers.get("Origin") != f"http://{host}":
                raise RequestError(403, "only the preview's own page can send a test")
            if self.headers.get_content_type() != "application/json":
                raise RequestError(415, "send application/json")
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > trysend.MAX_BODY:
                raise RequestError(413, "the request is too large or has no length")
            data = self.rfile.read(int(length))
            try:
                answer = trysend.handle(preview.config.path, data, preview.now())
            except trysend.TrySendError as e:
                raise RequestError(e.status, str(e)) from e
            encoded = json.dumps(answer, ensure_ascii=False).encode()
            self._send(200, encoded, "application/json; charset=utf-8", True)

    def _handle(self, *, body: bool) -> None:
        preview = self.server.preview
        with self._answering(body=body):
            if not preview.host_allowed(self.headers.get("Host")):
                raise RequestError(403, "this preview only answers to localhost (Host refused)")
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            for pattern, name in ROUTES:
                match = pattern.fullmatch(parts.path)
                if match:
                    getattr(self, f"_{name}")(match, query, body)
                    return
            raise RequestError(404, "not found")

    @contextmanager
    def _answering(self, *, body: bool) -> Iterator[None]:
        """What goes wrong while answering, answered: a RequestError as its status and
        reason, a client that left in silence, anything else a 500 (the traceback goes to
        the terminal)."""
        try:
            yield
        except RequestError as e:
            self._send(e.status, e.reason.encode() + b"\n", "text/plain; charset=utf-8", body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:
            self.server.preview.warn(
                f"the preview failed on {self.path}: {e}\n{traceback.format_exc()}"
            )
            self._send(500, b"internal error: see the terminal\n", "text/plain", body)

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        body: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (COMMON_HEADERS | (headers or {})).items():
            self.send_header(name, value)
        if "Content-Security-Policy" not in (headers or {}):
            self.send_header("Content-Security-Policy", "default-src 'none'")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _page(self, match: re.Match[str], query: dict[str, list[str]], body: bool) -> None:
        page = self.server.preview.assets["preview.html"]
        headers = {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"}
        self._send(200, page, ASSETS["preview.html"], body, headers)

    def _asset(self, match: re.Match[str], query: dict[str, list[str]], body: bool) -> None:
        name = match.group("asset")
        self._send(200, self.server.preview.assets[name], ASSETS[name], body)

    def _api(self, match: re.Match[str], query: dict[str, list[str]], body: bool) -> None:
        version, snapshot = self.server.preview.snapshot(_view(match, query))
        data = {"version": version} | snapshot.to_json()
        encoded = json.dumps(data, ensure_ascii=False).encode()
        self._send(snapshot.status, encoded, "application/json; charset=utf-8", body)

    def _frame(self, match: re.Match[str], query: dict[str, list[str]], body: bool) -> None:
        scheme = query.get("scheme", ["light"])[-1]
        if scheme not in ("light", "dark"):
            raise RequestError(400, "scheme must be light or dark")
        _, snapshot = self.server.preview.snapshot(_view(match, query))
        headers = {"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"}
        if snapshot.parsed is not None and snapshot.parsed.html is not None:
            document = frame_document(snapshot.parsed.html, "dark" if scheme == "dark" else "light")
        else:
            error = snapshot.error or PreviewError("the message has no HTML part")
            document = error_document(error)
        self._send(snapshot.status, document.encode(), ASSETS["preview.html"], body, headers)

    def _eml(self, match: re.Match[str], query: dict[str, list[str]], body: bool) -> None:
        _, snapshot = self.server.preview.snapshot(_view(match, query))
        if snapshot.error is not None or not snapshot.eml:
            message = snapshot.error.message if snapshot.error else "no message"
            raise RequestError(snapshot.status if snapshot.status != 200 else 409, message)
        number = snapshot.number or snapshot.view.number
        name = f"{folder_name(number)}.eml"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        self._send(200, snapshot.eml, "message/rfc822", body, headers)

    def _test_send_status(
        self, match: re.Match[str], query: dict[str, list[str]], body: bool
    ) -> None:
        encoded = json.dumps(trysend.status(self.server.preview.config.path)).encode()
        self._send(200, encoded, "application/json; charset=utf-8", body)

    def _events(self, match: re.Match[str], query: dict[str, list[str]], body: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        for name, value in COMMON_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if not body:
            return
        preview = self.server.preview
        self.wfile.write(b"retry: 1000\n\n")
        self.wfile.flush()
        seen: str | None = None
        while True:
            version = preview.wait_change(seen, KEEPALIVE_S)
            if version is None:
                return
            if version == seen:
                self.wfile.write(b": keep-alive\n\n")
            else:
                self.wfile.write(f"event: version\ndata: {version}\n\n".encode())
                seen = version
            self.wfile.flush()


def _wait_for_stop() -> None:
    """Block until Ctrl-C, or SIGTERM when running in the main thread."""
    stop = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main else None
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def serve(
    config: Config,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] = _ignore,
) -> None:
    """Run the preview until Ctrl-C: print where it is, open a browser, follow every save."""
    server = PreviewServer(config, host, port, warn=warn)
    server.start()
    try:
        s = config.settings
        echo(f"Previewing {s.title} at {server.url}  (Ctrl-C to stop)")
        echo(
            f"  following {config.path}, {s.content}/ and {s.templates}/: the page updates on save"
        )
        if host.lower() not in LOCAL_NAMES | {"::1"}:
            warn(f"listening on {host}: other machines on your network can open the preview")
        if open_browser and not webbrowser.open(server.url):
            echo(f"  open {server.url} in a browser")
        _wait_for_stop()
    finally:
        server.stop()
        echo("preview stopped")
        sys.stdout.flush()
