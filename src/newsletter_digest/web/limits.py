"""How long and how many: the limits that keep slow or many clients from holding `digest serve`.

uvicorn closes an idle kept-alive connection (``timeout_keep_alive``) and answers 503 past
``limit_concurrency`` connections, but it never times out a request head that is sent
slowly or never finished. :class:`HeadDeadline` adds that: a connection whose request line
and headers (and, once answered, its body) are not complete ``head`` seconds after it opened
or after its last response is closed. The body has its own deadline and size, checked by
:func:`read_form` (408, 413; Starlette parses the form); :class:`RateLimiter` bounds how
many requests one client makes. docs/readers.md lists them all.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import anyio
import h11
import uvicorn
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message, Receive
from uvicorn.protocols.http.h11_impl import H11Protocol


class Limits(NamedTuple):
    """The server's limits, in seconds, connections and bytes."""

    head: float = 10.0  # the request line and headers must be complete within this
    body: float = 10.0  # a form body must be complete within this (else 408)
    keep_alive: int = 5  # an idle kept-alive connection is closed after this
    connections: int = 1000  # past this many open connections, new requests get 503
    head_bytes: int = 16 * 1024  # a longer request head is refused (431, or 400 while coming)


LIMITS = Limits()


class HeadDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is late."""

    head_timeout = LIMITS.head

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_due)

    def _head_due(self) -> None:
        """Close the connection if nothing is being answered and the client has not sent a
        whole request in time: a head still coming, or (after an answer such as the 408 of
        a late body) the rest of a body nobody reads."""
        self._head_timer = None
        answering = self.cycle is not None and not self.cycle.response_complete
        if answering or self.conn.their_state is h11.DONE or self.transport.is_closing():
            return
        self.transport.close()


def server_config(
    app: Any,
    host: str,
    port: int,
    limits: Limits = LIMITS,
    *,
    behind_proxy: bool = True,
    **options: Any,
) -> uvicorn.Config:
    """uvicorn's settings for ``app`` with ``limits``, as ``digest serve`` runs it (and the
    preview, not ``behind_proxy``: no X-Forwarded-For is believed); ``options`` are further
    uvicorn settings (logging)."""
    protocol = type("HeadDeadline", (HeadDeadline,), {"head_timeout": limits.head})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        proxy_headers=behind_proxy,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=limits.connections,
        h11_max_incomplete_event_size=limits.head_bytes,
        **options,
    )


class HeadSize:
    """Refuse a request whose head is over ``limit`` bytes with 431 (RFC 6585). h11 stops
    only a head still incomplete past the limit; one that arrives whole in a single read
    would otherwise be taken whatever its size."""

    def __init__(self, app: Any, limit: int = LIMITS.head_bytes) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.limit:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 431,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": b"request head too large\n"})
                return
        await self.app(scope, receive, send)


MAX_BODY = 4096  # bytes of a form body
MAX_FIELDS = 10  # fields of a form
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


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


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses (413) a body past ``limit`` bytes, however it is sent."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BadFormError(413, "the request body is too large")
        return message

    return capped


async def read_form(request: Request, deadline: float = LIMITS.body) -> dict[str, str]:
    """The posted fields, parsed by Starlette from at most MAX_BODY bytes of a form body that
    arrives within ``deadline`` seconds; BadFormError (415, 413, 408, 400) otherwise."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in FORM_TYPES:
        raise BadFormError(415, "send a form (application/x-www-form-urlencoded)")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise BadFormError(413, "the request body is too large")
    limited = Request(request.scope, _capped(request.receive, MAX_BODY))
    try:
        with anyio.fail_after(deadline):
            form = await limited.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_BODY)
    except TimeoutError as e:
        raise BadFormError(408, "the request body came too slowly") from e
    except (HTTPException, MultiPartException) as e:
        raise BadFormError(400, "the form is not valid") from e
    if len(form.multi_items()) > MAX_FIELDS:  # older Starlette counts only multipart fields
        raise BadFormError(400, "the form is not valid")
    return {name: value for name, value in form.items() if isinstance(value, str)}
