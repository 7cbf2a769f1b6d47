"""The one web stack: a Starlette app for either mode, with the same middleware.

- ``serve`` (public, behind a proxy): :func:`newsletter_digest.web.serve.create_app`;
- ``preview`` (local only): :func:`newsletter_digest.web.preview_routes.create_preview_app`.

Both get :class:`~newsletter_digest.web.limits.HeadSize` (431 on a big head) and
:class:`SecurityHeaders` (one set of headers, here); the preview also gets
:class:`LocalOnly`, which refuses a Host header naming another site (DNS rebinding) and,
while it listens on loopback, any client not on this machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter_digest.web.limits import LIMITS, HeadSize, Limits

SECURITY_HEADERS = {
    # No scripts, nothing from elsewhere but https images; a page may set a stricter or a
    # wider policy of its own (the preview's page runs its own script; the email frame).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a token in the URL must not leak to other sites
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
HOST_REFUSED = "this preview only answers to localhost (Host refused)"
CLIENT_REFUSED = "this preview only answers to this machine"


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response that has not set its own (pure ASGI, so
    streaming, event streams included, is untouched)."""

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


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps other machines out."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(header: str | None, bound: str) -> bool:
    """Only names of this machine, the address listened on, or IP addresses: no DNS name
    can be rebound to us."""
    if not header:
        return False
    host = header.strip().lower()
    name = host[: host.find("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
    bound = bound.lower()
    if name in LOCAL_NAMES or name in (bound, f"[{bound}]"):
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class LocalOnly:
    """The preview's guard: a request whose Host is not this machine is refused (403); so
    is a client from another machine while the preview listens on loopback (``host``)."""

    def __init__(self, app: ASGIApp, host: str) -> None:
        self.app = app
        self.host = host
        self.loopback_only = is_loopback(host)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None."""
        if not host_allowed(Headers(scope=scope).get("host"), self.host):
            return HOST_REFUSED
        client = scope.get("client")
        if self.loopback_only and (client is None or not is_loopback(str(client[0]))):
            return CLIENT_REFUSED
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = self.refusal(scope) if scope["type"] in ("http", "websocket") else None
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = PlainTextResponse(reason + "\n", 403, headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


def web_app(
    routes: Sequence[BaseRoute],
    *,
    limits: Limits = LIMITS,
    lifespan: Any = None,
    local_host: str | None = None,
) -> Starlette:
    """A Starlette app with ``routes`` and the stack both modes share; ``local_host`` (the
    address the preview listens on) adds the preview's :class:`LocalOnly`."""
    middleware = [Middleware(HeadSize, limit=limits.head_bytes), Middleware(SecurityHeaders)]
    if local_host is not None:
        middleware.append(Middleware(LocalOnly, host=local_host))
    app = Starlette(routes=list(routes), middleware=middleware, lifespan=lifespan)
    app.router.redirect_slashes = False  # /digest.yaml must be a 404, not a redirect
    return app
