"""Live reload for the preview: a version that the file watcher's threads move on, and the
Server-Sent Events stream (``/events``) that tells open pages to fetch the issue again.

The watcher calls :meth:`Changes.bump` from its own threads; each open stream waits on an
asyncio event of its own loop, woken thread-safely. :meth:`Changes.close` ends every stream
(uvicorn waits for open responses before it stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import AsyncIterator

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

KEEPALIVE_S = 15.0
"""How often an idle stream says it is still there (proxies and browsers drop silent ones)."""


class Changes:
    """The preview's version: it changes with every change to the sources and every start."""

    def __init__(self) -> None:
        self._token = secrets.token_hex(4)
        self._count = 0
        self._closing = False
        self._lock = threading.Lock()
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def version(self) -> str:
        """The current version: this start's token and the number of changes seen."""
        return f"{self._token}-{self._count}"

    def bump(self) -> None:
        """A change: a new version, and every waiting stream told (from any thread)."""
        with self._lock:
            self._count += 1
        self._wake()

    def close(self) -> None:
        """Stopping: every stream ends."""
        with self._lock:
            self._closing = True
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            waiting = list(self._waiting)
        for loop, event in waiting:
            with contextlib.suppress(RuntimeError):  # its loop has closed: nothing waits
                loop.call_soon_threadsafe(event.set)

    async def wait(self, seen: str | None, timeout: float) -> str | None:
        """The version once it is not ``seen`` (or after ``timeout``); None once closing."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._closing or self.version != seen:
                return None if self._closing else self.version
            self._waiting.add(entry)
        try:
            with anyio.move_on_after(timeout):
                await entry[1].wait()
        finally:
            with self._lock:
                self._waiting.discard(entry)
        return None if self._closing else self.version


async def stream(changes: Changes, keepalive: float = KEEPALIVE_S) -> AsyncIterator[bytes]:
    """The event stream: a retry hint, then each new version as a ``version`` event, and a
    comment now and then while nothing changes; it ends when the preview stops."""
    yield b"retry: 1000\n\n"
    seen: str | None = None
    while True:
        version = await changes.wait(seen, keepalive)
        if version is None:
            return
        if version == seen:
            yield b": keep-alive\n\n"
        else:
            yield f"event: version\ndata: {version}\n\n".encode()
            seen = version


async def events(request: Request) -> Response:
    """``/events``: Server-Sent Events telling the page when the issue changed."""
    changes: Changes = request.app.state.changes
    return StreamingResponse(
        stream(changes) if request.method != "HEAD" else iter(()),
        media_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )
