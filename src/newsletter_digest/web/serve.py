"""`digest serve`: the public side, one Starlette app on uvicorn, meant behind a proxy.

- the web archive and feed from the public folder (``archive.folder``; only its index, feed
  and web versions; never the outbox, its .eml files, notices or pickup folders), with
  cache headers;
- ``/unsubscribe/<token>``: a GET shows one button and changes nothing (link scanners fetch
  links); a POST, RFC 8058's ``List-Unsubscribe=One-Click`` or the button, unsubscribes at
  once; repeating it is harmless; a bad token is a 400 that says nothing about anyone;
- ``/subscribe`` (``serve.subscribe: true``): double opt-in, the confirmation through the
  configured transport, the reader active only once they confirm;
- ``/healthz``.
Bodies over 4 KB, wrong content types and too many requests from one client are 4xx.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import Headers, MutableHeaders
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.send import send_notice
from newsletter_digest.mail import notices
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.render.renderer import page_environment
from newsletter_digest.state.store import State, open_state

log = logging.getLogger("newsletter_digest.serve")
MAX_BODY = 4096
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_ISSUE = re.compile(r"issue-\d{4,}")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a token in the URL must not leak to other sites
    "X-Frame-Options": "DENY",
}


class RateLimiter:
    """At most ``limit`` requests a key (a client address) in any sliding ``window`` seconds."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._seen) > 10_000:  # bounded memory under a flood of addresses
                recent = now - self._window
                self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > recent}
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= now - self._window:
                times.popleft()
            if len(times) >= self._limit:
                return False
            times.append(now)
            return True


class BadFormError(Exception):
    """A request body this server does not take: (status, reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields, from at most MAX_BODY bytes of a form body; BadFormError otherwise."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in FORM_TYPES:
        raise BadFormError(415, "send a form (application/x-www-form-urlencoded)")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise BadFormError(413, "the request body is too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadFormError(413, "the request body is too large")
    if kind == FORM_TYPES[0]:
        try:
            fields = parse_qs(body.decode("utf-8"), max_num_fields=10, strict_parsing=False)
        except (UnicodeDecodeError, ValueError) as e:
            raise BadFormError(400, "the form is not valid") from e
        return {k: v[0] for k, v in fields.items()}

    async def stream() -> Any:
        yield body

    try:
        form = await MultiPartParser(
            Headers(raw=request.headers.raw), stream(), max_files=0, max_fields=10
        ).parse()
    except MultiPartException as e:
        raise BadFormError(400, "the form is not valid") from e
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def create_app(config: Config) -> Starlette:
    """The public app for one config; state is opened per request, so the app holds no
    connection across threads and sees what other digest commands wrote."""
    s = config.settings
    tokens = Tokens(server_key(s.state))
    limiter = RateLimiter(s.serve.requests_per_minute)
    mail_limiter = RateLimiter(1, window=3600)  # one confirmation email per address an hour
    env = page_environment(s.templates)
    public = s.archive.folder.resolve()  # only the public archive: never the outbox

    @contextmanager
    def state() -> Iterator[State]:
        with open_state(s.state) as opened:
            yield opened

    def page(
        status: int, heading: str, *lines: str, form: dict[str, Any] | None = None
    ) -> HTMLResponse:
        html = env.get_template("reader-page.html.j2").render(
            title=s.title, language=s.language, heading=heading, lines=lines, form=form
        )
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})

    def invalid() -> HTMLResponse:
        return page(
            400,
            "This link is not valid",
            "It may be from an older subscription, or cut short by a mail program.",
            "To stop getting this newsletter, use the unsubscribe link in its latest issue.",
        )

    def limited(request: Request) -> bool:
        client = request.client.host if request.client else "unknown"
        return not limiter.allow(client)

    def too_many() -> HTMLResponse:
        response = page(429, "Too many requests", "Please wait a minute and try again.")
        response.headers["Retry-After"] = "60"
        return response

    def button_route(
        purpose: str,
        question: tuple[str, ...],
        button: str,
        act: Callable[[State, int], object],
        done: tuple[str, ...],
        *,
        one_click: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        """A link that acts only through its button: the GET shows the question and the
        button and changes nothing (link scanners fetch links); a POST of the button (or,
        with ``one_click``, RFC 8058's List-Unsubscribe=One-Click) acts on the token's
        reader. Bad tokens, bodies and floods get a 4xx."""

        async def handle(request: Request) -> Response:
            if request.method == "POST" and limited(request):
                return too_many()
            with state() as db:
                reader = tokens.reader(db, request.path_params["token"], purpose)
                if reader is None:
                    return invalid()
                if request.method == "GET":
                    form = {"action": request.url.path, "fields": [], "button": button}
                    return page(200, *question, form=form)
                try:
                    fields = await read_form(request)
                except BadFormError as e:
                    return page(e.status, "This request was not understood", str(e))
                pressed = fields.get("confirm") == "yes"
                if not pressed and not (
                    one_click and fields.get("List-Unsubscribe") == "One-Click"
                ):
                    return page(400, "This request was not understood", "Use the button.")
                act(db, reader.id)
            return page(200, *done)

        return handle

    unsubscribe = button_route(
        "unsubscribe",
        ("Unsubscribe?", f"You will get no more issues of {s.title}."),
        "Unsubscribe",
        lambda db, reader: book.set_status(
            db, reader, "unsubscribed", "one-click unsubscribe", _now()
        ),
        ("You are unsubscribed", f"You will get no more issues of {s.title}."),
        one_click=True,
    )
    confirm = button_route(
        "confirm",
        ("Confirm your subscription",),
        "Confirm my subscription",
        lambda db, reader: book.confirm(db, reader, _now()),
        ("You are subscribed", f"The next issue of {s.title} comes to you."),
    )

    async def subscribe(request: Request) -> Response:
        form = {
            "action": "/subscribe",
            "button": "Subscribe",
            "fields": [
                {
                    "name": "email",
                    "label": "Email address",
                    "type": "email",
                    "required": True,
                    "autocomplete": "email",
                },
                {
                    "name": "name",
                    "label": "Name (optional)",
                    "type": "text",
                    "required": False,
                    "autocomplete": "name",
                },
            ],
        }
        if request.method == "GET":
            return page(200, f"Subscribe to {s.title}", form=form)
        if limited(request):
            return too_many()
        try:
            fields = await read_form(request)
        except BadFormError as e:
            return page(e.status, "This request was not understood", str(e))
        address, name = fields.get("email", "").strip(), fields.get("name", "").strip()[:100]
        with state() as db:
            try:
                reader, _ = book.add(
                    db, address, name=name, source="form", now=_now(), status="unconfirmed"
                )
            except ValueError:
                return page(400, "That is not an email address", form=form)
            # Never mail an address that bounced or complained, nor one already subscribed;
            # and whatever the address's story, the answer (and its timing) is the same: the
            # confirmation goes out after the response, so nothing is revealed.
            mail = reader.status in ("unconfirmed", "unsubscribed") and mail_limiter.allow(
                reader.address.casefold()
            )
            link = f"{s.base_url}/confirm/{tokens.make(reader, 'confirm')}"
        response = page(
            200,
            "Check your inbox",
            "If the address can get mail, a message with a confirmation link is on its way.",
        )
        if mail:
            response.background = BackgroundTask(confirm_by_mail, reader.mailbox, link)
        return response

    def confirm_by_mail(mailbox: str, link: str) -> None:
        """The double opt-in email; a failure is logged (the reader can ask again)."""
        try:
            message, _ = notices.confirmation(
                s.title, s.sender, mailbox, link, datetime.now().astimezone()
            )
            outcome = send_notice(config, message, mailbox)
            if outcome.verdict != "sent":
                log.warning("confirmation to a new reader not sent: %s", outcome.reply)
        except Exception as e:  # the reader already has their answer
            log.warning("confirmation to a new reader not sent: %s", e)

    def archive_file(request: Request) -> Response:
        """Only the archive's own files: index.html, feed.xml, an issue's web version."""
        name = request.path_params.get("issue")
        if name is None:
            path = public / ("feed.xml" if request.url.path == "/feed.xml" else "index.html")
        elif _ISSUE.fullmatch(name):
            path = public / name / "index.html"
        else:
            return page(404, "Not found")
        if not path.is_file() or public not in path.resolve().parents:
            return page(404, "Not found", "There is no such page (yet).")
        media = "application/atom+xml" if path.suffix == ".xml" else "text/html; charset=utf-8"
        age = 86400 if name else 300  # an issue never changes; the index and feed do
        return FileResponse(path, media_type=media, headers={"Cache-Control": f"max-age={age}"})

    def healthz(request: Request) -> Response:
        with state() as db:
            db.query("SELECT 1")
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", archive_file),
        Route("/feed.xml", archive_file),
        Route("/{issue}/", archive_file),
        Route("/{issue}/index.html", archive_file),
        Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/confirm/{token}", confirm, methods=["GET", "POST"]),
        Route("/healthz", healthz),
    ]
    if s.serve.subscribe:
        routes.append(Route("/subscribe", subscribe, methods=["GET", "POST"]))
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.router.redirect_slashes = False  # /digest.yaml must be a 404, not a redirect
    return app


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (pure ASGI, so streaming is untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def serve(config: Config, host: str, port: int) -> None:
    """Run the app until Ctrl-C or SIGTERM (uvicorn handles both)."""
    import uvicorn

    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_level="warning",
        server_header=False,
    )
