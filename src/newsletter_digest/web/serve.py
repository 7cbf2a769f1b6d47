"""`digest serve`: the public mode of the web app, on uvicorn, meant behind a proxy.

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

The endpoints are module functions over ``app.state.site``; what they do is a use case of
:mod:`newsletter_digest.app.public`, run in a worker thread (it blocks on the state).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from newsletter_digest.app import public
from newsletter_digest.config.loading import Config
from newsletter_digest.errors import StateError
from newsletter_digest.logs import AccessLog, LogFormat, logging_to
from newsletter_digest.web.app import web_app
from newsletter_digest.web.limits import LIMITS, BadFormError, Limits, read_form, server_config
from newsletter_digest.web.site import Site, log

TAKE_EVERY = 1.0  # seconds between looks at the queue of unsubscribes
T = TypeVar("T")
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


def site_of(request: Request) -> Site:
    """The site this request's app serves."""
    site: Site = request.app.state.site
    return site


async def in_thread(
    act: Callable[..., T], *args: object, limiter: anyio.CapacityLimiter | None = None
) -> T:
    """Run a blocking use case in a worker thread (of ``limiter``'s, else the default pool)."""
    return await anyio.to_thread.run_sync(act, *args, limiter=limiter)


async def link_reader(request: Request, purpose: str) -> public.LinkReader | None:
    """The reader the path's token names for ``purpose``, or None."""
    token = request.path_params["token"]
    return await in_thread(public.check_link, site_of(request).public, token, purpose)


async def pressed(request: Request, *, one_click: bool) -> Response | None:
    """None when the body is the button (or, with ``one_click``, RFC 8058's field); else
    the 4xx page that says what is wrong."""
    site = site_of(request)
    try:
        fields = await read_form(request, site.limits.body)
    except BadFormError as e:
        return site.page(e.status, "This request was not understood", str(e))
    if fields.get("confirm") == "yes":
        return None
    if one_click and fields.get("List-Unsubscribe") == "One-Click":
        return None
    return site.page(400, "This request was not understood", "Use the button.")


async def unsubscribe(request: Request) -> Response:
    """GET/HEAD: the question and one button, nothing changed (link scanners fetch links).
    POST: RFC 8058's List-Unsubscribe=One-Click, or the button, unsubscribes at once and is
    never rate limited with a valid token; repeating it is harmless."""
    site = site_of(request)
    reader = await link_reader(request, "unsubscribe")
    if reader is None:
        return site.refused(request)
    gone = f"You will get no more issues of {site.title}."
    if request.method != "POST":
        return site.question(request, "Unsubscribe", "Unsubscribe?", gone)
    problem = await pressed(request, one_click=True)
    if problem is not None:
        return problem
    left = await in_thread(public.unsubscribe, site.public, reader.id, limiter=site.leavers)
    queued = {"queued": True} if left.queued else {}
    site.event("reader.unsubscribed", left.reader_id, left.address, via="one-click", **queued)
    return site.page(200, "You are unsubscribed", gone)


def test_link(request: Request) -> Response:
    """The unsubscribe link of a `digest send --test` message to someone who is not a
    reader: it carries no token, so it says what it is (not "Not found"); no change."""
    site = site_of(request)
    return site.page(
        200,
        "This is a test message's link",
        "It unsubscribes nobody: the message came from 'digest send --test'.",
        f"The issues of {site.title} carry each reader's own unsubscribe link.",
    )


async def confirm(request: Request) -> Response:
    """GET/HEAD: the button; POST of it: the reader is active (see Tokens for when a
    confirmation link is valid); the welcome follows the answer."""
    site = site_of(request)
    reader = await link_reader(request, "confirm")
    if reader is None:
        return site.refused(request)
    if request.method != "POST":
        return site.question(request, "Confirm my subscription", "Confirm your subscription")
    problem = await pressed(request, one_click=False)
    if problem is not None:
        return problem
    try:
        done = await in_thread(public.confirm, site.public, reader.id, limiter=site.writers)
    except StateError:
        return site.busy()
    if not done.confirmed:  # bounced, complained or confirmed since the link was checked
        return site.refused(request)
    site.event("reader.confirmed", reader)
    response = site.page(200, "You are subscribed", f"The next issue of {site.title} comes to you.")
    # After the answer, so the reader does not wait for it.
    response.background = BackgroundTask(
        in_thread, welcome_reader, site, reader.id, limiter=site.mailers
    )
    return response


def welcome_reader(site: Site, reader_id: int) -> None:
    """The welcome message (``welcome:``), once per reader; a failure is logged."""
    try:
        public.welcome(site.public, reader_id)
    except Exception as e:  # the reader already has their answer
        log.warning("welcome to a new reader not sent: %s", e)


async def subscribe(request: Request) -> Response:
    """Double opt-in: the same answer whatever the address's story; the confirmation goes
    out after the response, so its timing reveals nothing either."""
    site = site_of(request)
    if request.method != "POST":
        return site.page(200, f"Subscribe to {site.title}", form=SUBSCRIBE_FORM)
    if site.limited(request):
        return site.too_many()
    try:
        fields = await read_form(request, site.limits.body)
    except BadFormError as e:
        return site.page(e.status, "This request was not understood", str(e))
    address, name = fields.get("email", "").strip(), fields.get("name", "").strip()[:100]
    try:
        signed = await in_thread(
            public.subscribe, site.public, address, name, site.mail_limiter.allow,
            limiter=site.writers,
        )  # fmt: skip
    except ValueError:
        return site.page(400, "That is not an email address", form=SUBSCRIBE_FORM)
    except StateError:
        return site.busy()
    mailed = signed.confirm_link is not None
    site.event(
        "reader.subscribed", signed.reader, new=signed.added, status=signed.status, mailed=mailed
    )
    response = site.page(
        200,
        "Check your inbox",
        "If the address can get mail, a message with a confirmation link is on its way.",
    )
    if signed.confirm_link is not None:
        response.background = BackgroundTask(
            in_thread, confirm_by_mail, site, signed.mailbox, signed.confirm_link,
            limiter=site.mailers,
        )  # fmt: skip
    return response


def confirm_by_mail(site: Site, mailbox: str, link: str) -> None:
    """The double opt-in email; a failure is logged (the reader can ask again)."""
    try:
        mailed = public.mail_confirmation(site.public, mailbox, link)
        if not mailed.sent:
            log.warning("confirmation to a new reader not sent: %s", mailed.reply)
    except Exception as e:  # the reader already has their answer
        log.warning("confirmation to a new reader not sent: %s", e)


def archive(request: Request) -> Response:
    """Only the archive's own files: index.html, feed.xml, an issue's web version (a sync
    endpoint: Starlette runs it in a worker thread)."""
    site = site_of(request)
    name = request.path_params.get("issue")
    found = public.archive_file(site.public, name, feed=request.url.path == "/feed.xml")
    if found is None:
        return site.page(404, "Not found", "There is no such page (yet).")
    headers = {"Cache-Control": f"max-age={found.max_age}"}
    return FileResponse(found.path, media_type=found.media_type, headers=headers)


async def healthz(request: Request) -> Response:
    """200 while the state database answers; 503 (and why) when it does not."""
    checked = await in_thread(public.health, site_of(request).public)
    if not checked.ok:
        log.warning("health check failed: %s", checked.problem)
        return JSONResponse({"status": "unavailable"}, 503, headers={"Cache-Control": "no-store"})
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def routes(subscribe_form: bool) -> list[Route]:
    """Each path with the methods it answers; GET brings HEAD, anything else is 405."""
    get, form = ["GET"], ["GET", "POST"]
    found = [
        Route("/", archive, methods=get),
        Route("/unsubscribe/", test_link, methods=form),  # before /{issue}/
        Route("/feed.xml", archive, methods=get),
        Route("/{issue}/", archive, methods=get),
        Route("/{issue}/index.html", archive, methods=get),
        Route("/unsubscribe/{token}", unsubscribe, methods=form),
        Route("/confirm/{token}", confirm, methods=form),
        Route("/healthz", healthz, methods=get),
    ]
    if subscribe_form:
        found.append(Route("/subscribe", subscribe, methods=form))
    return found


@asynccontextmanager
async def taking_leaving(app: Starlette) -> AsyncIterator[None]:
    """While serving: move unsubscribes queued during a long write lock into the book."""
    site: Site = app.state.site

    async def keep_taking() -> None:
        while True:
            try:
                await in_thread(public.take_leaving, site.public, limiter=site.writers)
            except Exception as e:  # the queue keeps them; the server keeps answering
                log.warning("queued unsubscribes not taken into the book yet: %s", e)
            await anyio.sleep(TAKE_EVERY)

    async with anyio.create_task_group() as group:
        group.start_soon(keep_taking)
        yield
        group.cancel_scope.cancel()


def create_app(config: Config, limits: Limits = LIMITS, *, verbose: bool = False) -> Starlette:
    """The public app for one config (``verbose``: readers' addresses in the log)."""
    site = Site(config, limits, verbose=verbose)
    app = web_app(routes(site.subscribe_form), limits=limits, lifespan=taking_leaving)
    app.state.site = site
    return app


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
