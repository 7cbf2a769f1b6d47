"""How long and how many: the limits that keep slow or many clients from holding `digest serve`.

uvicorn closes an idle kept-alive connection (``timeout_keep_alive``) and answers 503 past
``limit_concurrency`` connections, but it never times out a request head that is sent
slowly or never finished. :class:`HeadDeadline` adds that: a connection whose request line
and headers (and, once answered, its body) are not complete ``head`` seconds after it opened
or after its last response is closed. The body has its own deadline in the app (408).
docs/readers.md lists them all.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


class Limits(NamedTuple):
    """The server's limits, in seconds, connections and bytes."""

    head: float = 10.0  # the request line and headers must be complete within this
    body: float = 10.0  # a form body must be complete within this (else 408)
    keep_alive: int = 5  # an idle kept-alive connection is closed after this
    connections: int = 1000  # past this many open connections, new requests get 503
    head_bytes: int = 16 * 1024  # a longer request head is refused (400)


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
    app: Any, host: str, port: int, limits: Limits = LIMITS, **options: Any
) -> uvicorn.Config:
    """uvicorn's settings for ``app`` with ``limits``, as ``digest serve`` runs it; ``options``
    are further uvicorn settings (logging)."""
    protocol = type("HeadDeadline", (HeadDeadline,), {"head_timeout": limits.head})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=limits.connections,
        h11_max_incomplete_event_size=limits.head_bytes,
        **options,
    )
