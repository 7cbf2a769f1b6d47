"""The preview mode of the web app: the next issue as it will go out, live, changing nothing.

The page is static (``static/preview.*``) and fills itself from ``/api/...`` JSON with
``textContent``; the email goes into sandboxed iframes (``/frame/...``) that run no
scripts. ``/events`` (Server-Sent Events, :mod:`newsletter_digest.web.live`) tells open
pages to refetch after each change. With SMTP configured, a JSON POST to
``/api/test-send`` from the page's own origin sends the issue on screen as ``digest send
--test`` does (web/trysend.py), recording nothing.

Safety: a fixed set of routes (no request path is ever turned into a file name), a Host
header naming another site is refused (the app's LocalOnly middleware), past issues are read
only from inside the outbox, the state is opened read-only and nothing is ever written.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import traceback
from collections.abc import Callable
from datetime import datetime
from importlib import resources

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter_digest.app.preview import MAX_SKIP, Snapshot, View, take
from newsletter_digest.config.loading import Config
from newsletter_digest.errors import PreviewError
from newsletter_digest.models import folder_name
from newsletter_digest.web import trysend
from newsletter_digest.web.app import web_app
from newsletter_digest.web.limits import LIMITS, Limits
from newsletter_digest.web.live import Changes, events
from newsletter_digest.web.views import error_document, frame_document, snapshot_json

CACHE_VIEWS = 64
ASSETS = {
    "preview.html": "text/html; charset=utf-8",
    "preview.css": "text/css; charset=utf-8",
    "preview.js": "text/javascript; charset=utf-8",
}
JSON = "application/json; charset=utf-8"
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
_NUMBER = re.compile(r"[0-9]{1,9}")


def _ignore(message: str) -> None:
    """Default for ``warn``: say nothing."""


class RequestError(Exception):
    """A request the preview cannot answer: the status and a short reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PreviewSite:
    """What the preview's endpoints share (on ``app.state.preview``): the config, its
    snapshots (made once per version and day), the live version and the page's files."""

    def __init__(
        self, config: Config, clock: Callable[[], datetime], warn: Callable[[str], None] = _ignore
    ) -> None:
        self.config = config
        self.clock = clock
        self.warn = warn
        self.changes = Changes()
        self._render_lock = threading.Lock()
        self._cache: dict[tuple[View, str], Snapshot] = {}
        package = resources.files("newsletter_digest") / "static"
        self.assets = {name: (package / name).read_bytes() for name in ASSETS}

    def changed(self) -> None:
        """Forget every snapshot and tell open pages to fetch the issue again."""
        with self._render_lock:
            self._cache.clear()
            self.changes.bump()

    def snapshot(self, view: View) -> tuple[str, Snapshot]:
        """The current version and ``view`` made for it (once per version and day)."""
        with self._render_lock:
            now = self.clock()
            key = (view, now.date().isoformat())
            found = self._cache.get(key)
            if found is None:
                if len(self._cache) >= CACHE_VIEWS:
                    self._cache.clear()
                found = self._cache[key] = take(self.config.path, view, now)
            return self.changes.version, found


def site_of(request: Request) -> PreviewSite:
    """The preview this request's app shows."""
    site: PreviewSite = request.app.state.preview
    return site


def answer(
    status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
) -> Response:
    """A response the browser keeps no copy of (the issue changes on every save)."""
    return Response(data, status, {"Cache-Control": "no-store"} | (headers or {}), content_type)


def answering(endpoint: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """What goes wrong in ``endpoint``, answered: a RequestError as its status and reason,
    anything else a 500 (the traceback goes to the terminal)."""

    @functools.wraps(endpoint)
    def answered(request: Request) -> Response:
        try:
            return endpoint(request)
        except RequestError as e:
            return answer(e.status, e.reason.encode() + b"\n", "text/plain; charset=utf-8")
        except Exception as e:
            site_of(request).warn(
                f"the preview failed on {request.url.path}: {e}\n{traceback.format_exc()}"
            )
            return answer(500, b"internal error: see the terminal\n", "text/plain")

    return answered


def view_of(request: Request) -> View:
    """The view a route names: ``next`` (with ``?skip=K``) or ``issues/N``."""
    number = request.path_params.get("number")
    if number is not None:
        if not _NUMBER.fullmatch(number):
            raise RequestError(404, "not found")
        if int(number) < 1:
            raise RequestError(404, "issue numbers start at 1")
        return View("issue", int(number))
    skips = request.query_params.getlist("skip")
    skip = skips[-1] if skips else "0"
    if not (skip.isascii() and skip.isdigit()) or int(skip) > MAX_SKIP:
        raise RequestError(400, f"skip must be a whole number from 0 to {MAX_SKIP}")
    return View("next", int(skip))


@answering
def page(request: Request) -> Response:
    """The preview page (the same for every view: its script reads the URL and asks)."""
    number = request.path_params.get("number")
    if number is not None and not _NUMBER.fullmatch(number):
        raise RequestError(404, "not found")
    headers = {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"}
    html = site_of(request).assets["preview.html"]
    return answer(200, html, ASSETS["preview.html"], headers)


@answering
def asset(request: Request) -> Response:
    """The page's own stylesheet and script."""
    name = request.url.path.rsplit("/", 1)[1]
    return answer(200, site_of(request).assets[name], ASSETS[name])


@answering
def api(request: Request) -> Response:
    """The issue as JSON for the page script, with the version it was made for."""
    version, snapshot = site_of(request).snapshot(view_of(request))
    data = {"version": version} | snapshot_json(snapshot)
    return answer(snapshot.status, json.dumps(data, ensure_ascii=False).encode(), JSON)


@answering
def frame(request: Request) -> Response:
    """The email's HTML for a sandboxed frame, light or dark (``?scheme=``)."""
    scheme = (request.query_params.getlist("scheme") or ["light"])[-1]
    if scheme not in ("light", "dark"):
        raise RequestError(400, "scheme must be light or dark")
    _, snapshot = site_of(request).snapshot(view_of(request))
    headers = {"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"}
    if snapshot.parsed is not None and snapshot.parsed.html is not None:
        document = frame_document(snapshot.parsed.html, "dark" if scheme == "dark" else "light")
    else:
        document = error_document(snapshot.error or PreviewError("the message has no HTML part"))
    return answer(snapshot.status, document.encode(), ASSETS["preview.html"], headers)


@answering
def eml(request: Request) -> Response:
    """The message's very bytes, as the outbox gets them, to download."""
    _, snapshot = site_of(request).snapshot(view_of(request))
    if snapshot.error is not None or not snapshot.eml:
        message = snapshot.error.message if snapshot.error else "no message"
        raise RequestError(snapshot.status if snapshot.status != 200 else 409, message)
    name = f"{folder_name(snapshot.number or snapshot.view.number)}.eml"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return answer(200, snapshot.eml, "message/rfc822", headers)


@answering
def test_send_status(request: Request) -> Response:
    """Whether the "Send test" button is offered, and the address it suggests."""
    offer = trysend.status(site_of(request).config.path)
    return answer(200, json.dumps(offer).encode(), JSON)


async def test_send(request: Request) -> Response:
    """The "Send test" button: a JSON POST from this preview's own page (its Origin)."""
    if request.headers.get("origin") != f"http://{request.headers.get('host')}":
        return answer(403, b"only the preview's own page can send a test\n", "text/plain")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return answer(415, b"send application/json\n", "text/plain")
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > trysend.MAX_BODY:
        return answer(413, b"the request is too large or has no length\n", "text/plain")
    site, body = site_of(request), await request.body()
    try:
        sent = await anyio.to_thread.run_sync(trysend.handle, site.config.path, body, site.clock())
    except trysend.TrySendError as e:
        return answer(e.status, str(e).encode() + b"\n", "text/plain; charset=utf-8")
    return answer(200, json.dumps(sent, ensure_ascii=False).encode(), JSON)


def routes() -> list[Route]:
    """Every path the preview answers (GET and HEAD; the one POST sends a test)."""
    found = [Route("/", page)]
    for path in ("/next", "/issues/{number:str}"):
        found.append(Route(path, page))
        found += [Route(f"/api{path}", api), Route(f"/frame{path}", frame)]
        found.append(Route(f"/eml{path}", eml))
    return [
        *found,
        Route("/events", events),
        Route("/api/test-send", test_send_status),
        Route("/api/test-send", test_send, methods=["POST"]),
        Route("/static/preview.css", asset),
        Route("/static/preview.js", asset),
    ]


def create_preview_app(site: PreviewSite, host: str, limits: Limits = LIMITS) -> Starlette:
    """The preview mode of the web app, answering only to this machine (``host``: the
    address listened on)."""
    app = web_app(routes(), limits=limits, local_host=host)
    app.state.preview = site
    app.state.changes = site.changes
    return app
