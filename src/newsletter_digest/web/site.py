"""What the public endpoints of ``digest serve`` share: the use cases' context, the limits
and rate limiters, the threads that wait for the state's write lock, the reader pages, and
the log line of a reader's change."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import HTMLResponse

from newsletter_digest.app.public import LinkReader, Public, open_public
from newsletter_digest.config.loading import Config
from newsletter_digest.render.renderer import page_environment
from newsletter_digest.web.limits import Limits, RateLimiter

log = logging.getLogger("newsletter_digest.serve")
WRITERS = 8  # threads that may wait for the state's write lock at once, per kind of write


class Site:
    """The public side of one config, as the endpoints find it on ``app.state.site``."""

    def __init__(self, config: Config, limits: Limits, *, verbose: bool = False) -> None:
        s = config.settings
        self.verbose = verbose  # readers' addresses in the log, not only their ids
        self.public: Public = open_public(config)
        self.title = s.title
        self.language = s.language
        self.subscribe_form = s.serve.subscribe
        self.limits = limits
        self.limiter = RateLimiter(s.serve.requests_per_minute)
        self.mail_limiter = RateLimiter(1, window=3600)  # one confirmation an address an hour
        self.env = page_environment(s.templates)
        # Writes wait for the book's lock in threads of their own, so however many wait,
        # the archive and /healthz keep their threads. One-click unsubscribes have threads
        # of their own too: sign-ups and confirmations (anyone can send them) wait up to the
        # state's busy timeout under a build's lock, and must not hold up someone leaving.
        self.writers = anyio.CapacityLimiter(WRITERS)
        self.leavers = anyio.CapacityLimiter(WRITERS)
        # Confirmations and welcomes go out after the answer, over SMTP that may be slow or
        # stalled: in threads of their own too, never the pool the archive and /healthz use.
        self.mailers = anyio.CapacityLimiter(WRITERS)

    def page(
        self, status: int, heading: str, *lines: str, form: dict[str, Any] | None = None
    ) -> HTMLResponse:
        """A reader page: a heading, a few lines, maybe a form; never cached."""
        html = self.env.get_template("reader-page.html.j2").render(
            title=self.title, language=self.language, heading=heading, lines=lines, form=form
        )
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})

    def limited(self, request: Request) -> bool:
        """Whether this client has made too many requests of the limited kind lately."""
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

    def question(self, request: Request, button: str, *lines: str) -> HTMLResponse:
        """A page that asks before it acts: ``lines`` and one button posting to this URL."""
        form = {"action": request.url.path, "fields": [], "button": button}
        return self.page(200, *lines, form=form)

    def event(
        self, name: str, reader: LinkReader | int, address: str | None = None, **fields: object
    ) -> None:
        """One log line for a reader's change: their id, the address only with -v (logs
        travel further than the state)."""
        reader_id = reader.id if isinstance(reader, LinkReader) else reader
        if isinstance(reader, LinkReader):
            address = address or reader.address
        fields |= {"event": name, "reader": reader_id}
        if self.verbose and address:
            fields["address"] = address
        who = f"reader {reader_id}" + (f" <{fields['address']}>" if "address" in fields else "")
        log.info("%s: %s", name, who, extra=fields)
