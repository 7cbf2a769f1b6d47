"""`digest serve`: the public side, one Starlette app on uvicorn, meant behind a proxy.

- the web archive and feed from the public folder (``archive.folder``; only its index, feed
  and web versions; never the outbox, its .eml files, notices or pickup folders), with
  cache headers;
- ``/unsubscribe/<token>``: a GET (or HEAD) shows one button and changes nothing (link
  scanners fetch links); a POST, RFC 8058's ``List-Unsubscribe=One-Click`` or the button,
  unsubscribes at once, whatever holds the state's write lock and however many arrive;
  repeating it is harmless; a bad token is a 400 that says nothing about anyone;
- ``/subscribe`` (``serve.subscribe: true``): double opt-in, the confirmation through the
  configured transport, the reader active only once they confirm;
- ``/healthz``.
Other methods are 405. Bodies over 4 KB, wrong content types, and too many subscribe
requests or invalid links from one client are 4xx (the form reader and the rate limiter are
in :mod:`newsletter_digest.web.limits`, with the limits slow clients meet).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter_digest.clock import local_now, stamp
from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.send import send_notice
from newsletter_digest.errors import StateError
from newsletter_digest.logs import AccessLog, LogFormat, logging_to
from newsletter_digest.mail import notices
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.render.renderer import page_environment
from newsletter_digest.state.leaving import LeavingQueue, queue_path
from newsletter_digest.state.store import open_state
from newsletter_digest.web.limits import (
    LIMITS,
    BadFormError,
    HeadSize,
    Limits,
    RateLimiter,
    read_form,
    server_config,
)
from newsletter_digest.welcome import send_welcome

log = logging.getLogger("newsletter_digest.serve")
ONE_CLICK = "one-click unsubscribe"
WRITE_WAIT = 2.0  # seconds a one-click unsubscribe waits for the book before it is queued
TAKE_EVERY = 1.0  # seconds between looks at the queue of unsubscribes
WRITERS = 8  # threads that may wait for the state's write lock at once
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


class PublicSite:
    """The public pages of one config. State is opened per request (in a worker thread, so
    the event loop never waits on SQLite): the app holds no connection across threads and
    sees what other digest commands wrote."""

    def __init__(self, config: Config, limits: Limits, *, verbose: bool = False) -> None:
        s = config.settings
        self.verbose = verbose  # readers' addresses in the log, not only their ids
        self.config = config
        self.s = s
        self.limits = limits
        self.tokens = Tokens(server_key(s.state), confirm_within=s.serve.confirm_within)
        self.limiter = RateLimiter(s.serve.requests_per_minute)
        self.mail_limiter = RateLimiter(1, window=3600)  # one confirmation an address an hour
        self.env = page_environment(s.templates)
        self.public = s.archive.folder.resolve()  # only the public archive: never the outbox
        # Writes wait for the book's lock in threads of their own, so however many wait,
        # the archive and /healthz keep their threads. One-click unsubscribes have threads
        # of their own too: sign-ups and confirmations (anyone can send them) wait up to the
        # state's busy timeout under a build's lock, and must not hold up someone leaving.
        self.writers = anyio.CapacityLimiter(WRITERS)
        self.leavers = anyio.CapacityLimiter(WRITERS)

    # -- pages ---------------------------------------------------------------------------

    def page(
        self, status: int, heading: str, *lines: str, form: dict[str, Any] | None = None
    ) -> HTMLResponse:
        html = self.env.get_template("reader-page.html.j2").render(
            title=self.s.title, language=self.s.language, heading=heading, lines=lines, form=form
        )
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})

    def refused(self, request: Request) -> HTMLResponse:
        """A link that is not valid: 400, or 429 once one client sends too many of them."""
        if self.limited(request):
            return self.too_many()
        return self.page(
            400,
            "This link is not valid",
            "It may be from an older subscription, or cut short by a mail program.",
            "To stop getting this newsletter, use the unsubscribe link in its latest issue.",
        )

    def limited(self, request: Request) -> bool:
        client = request.client.host if request.client else "unknown"
        return not self.limiter.allow(client)

    def too_many(self) -> HTMLResponse:
        response = self.page(429, "Too many requests", "Please wait a minute and try again.")
        response.headers["Retry-After"] = "60"
        return response

    def busy(self) -> HTMLResponse:
        response = self.page(503, "Please try again", "The list is busy; try again in a minute.")
        response.headers["Retry-After"] = "60"
        return response

    def event(self, name: str, reader: book.Reader | int, **fields: object) -> None:
        """One log line for a reader's change: their id, the address only with -v (logs
        travel further than the state)."""
        reader_id = reader if isinstance(reader, int) else reader.id
        fields |= {"event": name, "reader": reader_id}
        if self.verbose and isinstance(reader, book.Reader):
            fields["address"] = reader.address
        who = f"reader {reader_id}" + (f" <{fields['address']}>" if "address" in fields else "")
        log.info("%s: %s", name, who, extra=fields)

    # -- state, off the event loop -------------------------------------------------------

    def token_reader(self, token: str, purpose: str) -> book.Reader | None:
        with open_state(self.s.state) as db:
            return self.tokens.reader(db, token, purpose)

    def unsubscribe_now(self, reader_id: int) -> None:
        """Record a one-click unsubscribe: in the book if its lock comes within WRITE_WAIT,
        else in the durable queue (a build holds the lock), which the book takes in later
        and every send reads. Either way it is on disk before the 200."""
        try:
            with open_state(self.s.state, busy_timeout=WRITE_WAIT) as db:
                book.unsubscribe(db, reader_id, ONE_CLICK, stamp())
                reader: book.Reader | int = book.get(db, reader_id) or reader_id
            self.event("reader.unsubscribed", reader, via="one-click")
        except StateError:
            with LeavingQueue(self.s.state) as queue:
                queue.add(reader_id, ONE_CLICK, stamp())
            self.event("reader.unsubscribed", reader_id, via="one-click", queued=True)

    def take_leaving(self) -> int:
        """Move queued unsubscribes into the book; 0 while the lock is still held."""
        if not queue_path(self.s.state).exists():
            return 0
        try:
            with (
                LeavingQueue(self.s.state) as queue,
                open_state(self.s.state, busy_timeout=WRITE_WAIT) as db,
            ):
                return book.take_leaving(db, queue)
        except StateError:
            return 0

    def confirm_now(self, reader_id: int) -> bool:
        with open_state(self.s.state) as db:
            return book.confirm(db, reader_id, stamp())

    async def write(
        self, act: Callable[[int], object], reader_id: int, limiter: anyio.CapacityLimiter
    ) -> object:
        return await anyio.to_thread.run_sync(act, reader_id, limiter=limiter)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """While serving: move unsubscribes queued during a long write lock into the book."""

        async def keep_taking() -> None:
            while True:
                try:
                    await anyio.to_thread.run_sync(self.take_leaving, limiter=self.writers)
                except Exception as e:  # the queue keeps them; the server keeps answering
                    log.warning("queued unsubscribes not taken into the book yet: %s", e)
                await anyio.sleep(TAKE_EVERY)

        async with anyio.create_task_group() as group:
            group.start_soon(keep_taking)
            yield
            group.cancel_scope.cancel()

    # -- routes --------------------------------------------------------------------------

    async def unsubscribe(self, request: Request) -> Response:
        """GET/HEAD: the question and one button, nothing changed (link scanners fetch
        links). POST: RFC 8058's List-Unsubscribe=One-Click, or the button, unsubscribes
        at once and is never rate limited with a valid token; repeating it is harmless."""
        token = request.path_params["token"]
        reader = await run_in_threadpool(self.token_reader, token, "unsubscribe")
        if reader is None:
            return self.refused(request)
        title = self.s.title
        if request.method != "POST":
            return self.question(
                request, "Unsubscribe", "Unsubscribe?", f"You will get no more issues of {title}."
            )
        problem = await self.pressed(request, one_click=True)
        if problem is not None:
            return problem
        await self.write(self.unsubscribe_now, reader.id, self.leavers)
        return self.page(200, "You are unsubscribed", f"You will get no more issues of {title}.")

    def test_link(self, request: Request) -> Response:
        """The unsubscribe link of a `digest send --test` message to someone who is not a
        reader: it carries no token, so it says what it is (not "Not found"); no change."""
        return self.page(
            200,
            "This is a test message's link",
            "It unsubscribes nobody: the message came from 'digest send --test'.",
            f"The issues of {self.s.title} carry each reader's own unsubscribe link.",
        )

    async def confirm(self, request: Request) -> Response:
        """GET/HEAD: the button; POST of it: the reader is active (see Tokens for when a
        confirmation link is valid)."""
        token = request.path_params["token"]
        reader = await run_in_threadpool(self.token_reader, token, "confirm")
        if reader is None:
            return self.refused(request)
        if request.method != "POST":
            return self.question(request, "Confirm my subscription", "Confirm your subscription")
        problem = await self.pressed(request, one_click=False)
        if problem is not None:
            return problem
        try:
            confirmed = await self.write(self.confirm_now, reader.id, self.writers)
        except StateError:
            return self.busy()
        if not confirmed:  # bounced, complained or confirmed since the link was checked
            return self.refused(request)
        self.event("reader.confirmed", reader)
        response = self.page(
            200, "You are subscribed", f"The next issue of {self.s.title} comes to you."
        )
        # After the answer, so the reader does not wait for it.
        response.background = BackgroundTask(self.welcome_reader, reader.id)
        return response

    def welcome_reader(self, reader_id: int) -> None:
        """The welcome message (``welcome:``), once per reader; a failure is logged."""
        try:
            send_welcome(self.config, reader_id)
        except Exception as e:  # the reader already has their answer
            log.warning("welcome to a new reader not sent: %s", e)

    def question(self, request: Request, button: str, *lines: str) -> Response:
        form = {"action": request.url.path, "fields": [], "button": button}
        return self.page(200, *lines, form=form)

    async def pressed(self, request: Request, *, one_click: bool) -> Response | None:
        """None when the body is the button (or, with ``one_click``, RFC 8058's field);
        else the 4xx page that says what is wrong."""
        try:
            fields = await read_form(request, self.limits.body)
        except BadFormError as e:
            return self.page(e.status, "This request was not understood", str(e))
        if fields.get("confirm") == "yes":
            return None
        if one_click and fields.get("List-Unsubscribe") == "One-Click":
            return None
        return self.page(400, "This request was not understood", "Use the button.")

    async def subscribe(self, request: Request) -> Response:
        """Double opt-in: the same answer whatever the address's story; the confirmation
        goes out after the response, so its timing reveals nothing either."""
        if request.method != "POST":
            return self.page(200, f"Subscribe to {self.s.title}", form=SUBSCRIBE_FORM)
        if self.limited(request):
            return self.too_many()
        try:
            fields = await read_form(request, self.limits.body)
        except BadFormError as e:
            return self.page(e.status, "This request was not understood", str(e))
        address, name = fields.get("email", "").strip(), fields.get("name", "").strip()[:100]
        try:
            link = await anyio.to_thread.run_sync(self.sign_up, address, name, limiter=self.writers)
        except ValueError:
            return self.page(400, "That is not an email address", form=SUBSCRIBE_FORM)
        except StateError:
            return self.busy()
        response = self.page(
            200,
            "Check your inbox",
            "If the address can get mail, a message with a confirmation link is on its way.",
        )
        if link is not None:
            response.background = BackgroundTask(self.confirm_by_mail, *link)
        return response

    def sign_up(self, address: str, name: str) -> tuple[str, str] | None:
        """Add the address as unconfirmed; (mailbox, confirmation link) when one should be
        mailed: never to an address that bounced or complained, nor one subscribed."""
        with open_state(self.s.state) as db:
            reader, added = book.add(
                db, address, name=name, source="form", now=stamp(), status="unconfirmed"
            )
        mail = reader.status in ("unconfirmed", "unsubscribed") and self.mail_limiter.allow(
            reader.address.casefold()
        )
        self.event("reader.subscribed", reader, new=added, status=reader.status, mailed=mail)
        if not mail:
            return None
        return reader.mailbox, f"{self.s.base_url}/confirm/{self.tokens.make(reader, 'confirm')}"

    def confirm_by_mail(self, mailbox: str, link: str) -> None:
        """The double opt-in email; a failure is logged (the reader can ask again)."""
        try:
            message, _ = notices.confirmation(
                self.s.title, self.s.sender, mailbox, link, local_now()
            )
            outcome = send_notice(self.config, message, mailbox)
            if outcome.verdict != "sent":
                log.warning("confirmation to a new reader not sent: %s", outcome.reply)
        except Exception as e:  # the reader already has their answer
            log.warning("confirmation to a new reader not sent: %s", e)

    def archive_file(self, request: Request) -> Response:
        """Only the archive's own files: index.html, feed.xml, an issue's web version."""
        public = self.public
        name = request.path_params.get("issue")
        if name is None:
            path = public / ("feed.xml" if request.url.path == "/feed.xml" else "index.html")
        elif _ISSUE.fullmatch(name):
            path = public / name / "index.html"
        else:
            return self.page(404, "Not found")
        if not path.is_file() or public not in path.resolve().parents:
            return self.page(404, "Not found", "There is no such page (yet).")
        media = "application/atom+xml" if path.suffix == ".xml" else "text/html; charset=utf-8"
        age = 86400 if name else 300  # an issue never changes; the index and feed do
        return FileResponse(path, media_type=media, headers={"Cache-Control": f"max-age={age}"})

    def healthz(self, request: Request) -> Response:
        with open_state(self.s.state) as db:
            db.query("SELECT 1")
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    def routes(self) -> list[Route]:
        """Each path with the methods it answers; GET brings HEAD, anything else is 405."""
        get, form = ["GET"], ["GET", "POST"]
        routes = [
            Route("/", self.archive_file, methods=get),
            Route("/unsubscribe/", self.test_link, methods=form),  # before /{issue}/
            Route("/feed.xml", self.archive_file, methods=get),
            Route("/{issue}/", self.archive_file, methods=get),
            Route("/{issue}/index.html", self.archive_file, methods=get),
            Route("/unsubscribe/{token}", self.unsubscribe, methods=form),
            Route("/confirm/{token}", self.confirm, methods=form),
            Route("/healthz", self.healthz, methods=get),
        ]
        if self.s.serve.subscribe:
            routes.append(Route("/subscribe", self.subscribe, methods=form))
        return routes


SUBSCRIBE_FORM: dict[str, Any] = {
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


def create_app(config: Config, limits: Limits = LIMITS, *, verbose: bool = False) -> Starlette:
    """The public app for one config (``verbose``: readers' addresses in the log)."""
    site = PublicSite(config, limits, verbose=verbose)
    app = Starlette(
        routes=site.routes(),
        middleware=[Middleware(HeadSize, limit=limits.head_bytes), Middleware(SecurityHeaders)],
        lifespan=site.lifespan,
    )
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


def serve(
    config: Config,
    host: str,
    port: int,
    *,
    log_format: LogFormat = "plain",
    verbose: bool = False,
) -> None:
    """Run the app until Ctrl-C or SIGTERM (uvicorn handles both), with the limits of
    :mod:`newsletter_digest.web.limits`, logging our events and uvicorn's access lines
    (client address from the proxy's X-Forwarded-For, tokens hidden) in ``log_format``."""
    access = logging.getLogger("uvicorn.access")
    hide = AccessLog()
    access.addFilter(hide)
    names = ("newsletter_digest", "uvicorn.error", "uvicorn.access")
    try:
        with logging_to(log_format, names=names):
            settings = server_config(
                create_app(config, verbose=verbose), host, port, log_config=None, access_log=True
            )
            uvicorn.Server(settings).run()
    finally:
        access.removeFilter(hide)
