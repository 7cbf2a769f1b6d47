"""Fetch a feed over http(s): bounded in time and size, with conditional GET.

Pass the ETag and Last-Modified of the previous fetch; a server that has nothing new answers
304 and :func:`fetch` returns ``not_modified=True`` with no body.

A fetch has an overall deadline (connecting, every redirect, the headers and the body
together), not only a timeout per read: a server that trickles one byte a second never
times out a read. Redirects are followed by hand, each one checked first: only to http(s),
and only to the host the user named or to public addresses, unless the configured URL is
itself on a loopback, link-local or private address (see :func:`redirect_problem`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import zlib
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from newsletter_digest.errors import ContentError

USER_AGENT = "newsletter-digest/0.1"
TIMEOUT_SECONDS = 20.0  # one read or connect
DEADLINE_SECONDS = 60.0  # the whole fetch, redirects and body included
MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A fetched URL: its body, or not_modified=True (304) and no body; the validators
    (etag, last_modified) to send next time; the final URL after redirects."""

    url: str
    not_modified: bool
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""


def fetch(
    url: str,
    etag: str | None = None,
    last_modified: str | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
    max_bytes: int = MAX_FEED_BYTES,
    deadline: float = DEADLINE_SECONDS,
) -> FetchResult:
    """GET url (http or https only) with a conditional request; raise ContentError on failure.

    The body is read in a stream and the fetch stops as soon as it passes max_bytes, or
    when ``deadline`` seconds have passed since it began, whatever the server does.
    """
    import httpx

    if not url.lower().startswith(("http://", "https://")):
        raise ContentError(f"cannot fetch {url}: only http and https URLs are supported")
    headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        return _run(_within(deadline, _get(url, headers, timeout, max_bytes)))
    except TimeoutError as e:
        raise ContentError(
            f"{url} did not send the whole feed within {deadline:g} s",
            hint="the server is too slow or stalls; it is tried again next time "
            "(imports.fetch_deadline in digest.yaml sets the limit)",
        ) from e
    except httpx.TimeoutException as e:
        raise ContentError(
            f"{url} did not answer within {timeout:.0f} s",
            hint="try again later; check the address",
        ) from e
    except httpx.HTTPError as e:
        raise ContentError(
            f"cannot fetch {url}: {e}", hint="check the address and the network connection"
        ) from e


async def _within(seconds: float, work: Coroutine[Any, Any, T]) -> T:
    async with asyncio.timeout(seconds):  # cancels the read in progress, wherever it is
        return await work


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from sync code, on a fresh event loop (in a thread of its
    own when this thread already runs one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _on_new_loop(work)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_on_new_loop, work).result()


def _on_new_loop(work: Coroutine[Any, Any, T]) -> T:
    """Like asyncio.run, but closing the loop does not wait for a name lookup the deadline
    abandoned (asyncio.run waits for the executor's threads to finish)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(work)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()  # shuts the default executor down without waiting


async def _get(url: str, headers: dict[str, str], timeout: float, max_bytes: int) -> FetchResult:
    """The GET, following at most MAX_REDIRECTS redirects that pass :func:`redirect_problem`."""
    import httpx

    current = url
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            async with client.stream("GET", current, headers=headers) as response:
                location = response.headers.get("Location")
                if response.status_code not in _REDIRECTS or location is None:
                    return await _result(url, response, max_bytes, headers)
                target = str(response.url.join(location))
            problem = await _check_redirect(url, target)
            if problem:
                raise ContentError(
                    f"{url} redirects to {target[:200]}, which is not followed: {problem}",
                    hint="use the address the feed moved to, if you trust it",
                )
            current = target
    raise ContentError(f"{url} redirects more than {MAX_REDIRECTS} times", hint="check the address")


async def _result(url: str, response: Any, max_bytes: int, sent: dict[str, str]) -> FetchResult:
    """The final response's body (streamed, stopped past max_bytes) and validators (the
    ones ``sent`` when it gives none)."""
    final = str(response.url)
    new_etag = response.headers.get("ETag") or sent.get("If-None-Match")
    new_modified = response.headers.get("Last-Modified") or sent.get("If-Modified-Since")
    if response.status_code == 304:
        return FetchResult(final, True, b"", new_etag, new_modified)
    if response.status_code >= 400:
        raise ContentError(
            f"{url} answered {response.status_code} {response.reason_phrase}",
            hint="check the address in a browser; the feed may have moved",
        )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, max_bytes)
    inflate = _decoder(url, response.headers.get("Content-Encoding", ""))
    chunks: list[bytes] = []
    total = 0
    async for raw in response.aiter_raw():
        for chunk in _decoded(url, inflate, raw, max_bytes - total, max_bytes):
            total += len(chunk)
            chunks.append(chunk)
    content_type = response.headers.get("Content-Type", "")
    return FetchResult(final, False, b"".join(chunks), new_etag, new_modified, content_type)


def _decoder(url: str, encoding: str) -> Any:
    """A zlib decompressor for the body's one gzip or deflate coding (None: not coded). The
    body is decoded here, not by httpx, whose decoders inflate a whole chunk at once: a
    2 KB body coded ``gzip, gzip`` became 1 GB in memory before any size check."""
    codings = [c.strip().lower() for c in encoding.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header, either
    raise ContentError(
        f"{url} is sent with Content-Encoding {encoding[:60]!r}, which is not read",
        hint="a feed server sends gzip, deflate or no coding; check the address",
    )


def _decoded(url: str, inflate: Any, raw: bytes, room: int, max_bytes: int) -> Iterator[bytes]:
    """``raw`` decoded, in pieces that never pass ``room`` bytes together: ContentError
    (larger than ``max_bytes``) instead."""
    if inflate is None:
        if len(raw) > room:
            raise _too_large(url, max_bytes)
        yield raw
        return
    try:
        while raw and not inflate.eof:
            piece = inflate.decompress(raw, room + 1)
            if len(piece) > room:
                raise _too_large(url, max_bytes)
            room -= len(piece)
            yield piece
            raw = inflate.unconsumed_tail
    except zlib.error as e:
        raise ContentError(
            f"{url} sent a body that is not valid gzip or deflate: {e}", hint="check the address"
        ) from e


def redirect_problem(
    configured: str, target: str, addresses: Callable[[str], Sequence[Address]]
) -> str:
    """Why a redirect from the ``configured`` URL to ``target`` is not followed ("" when it
    is): not http(s); or a host other than the configured one whose ``addresses`` include a
    loopback, link-local, private or otherwise non-public one, while the configured URL's
    own are all public. ``addresses`` resolves a host (an empty list when it cannot)."""
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http and https are followed, not {parts.scheme or 'no scheme'}"
    host = parts.hostname or ""
    origin = urlsplit(configured).hostname or ""
    if not host:
        return "it names no host"
    if host == origin:
        return ""  # the host the user named, on whatever port
    if any(not a.is_global for a in addresses(origin)):
        return ""  # the user named a local or private address: redirects may stay local
    local = [str(a) for a in addresses(host) if not a.is_global]
    if local:
        return f"{host} is a loopback, link-local or private address ({local[0]})"
    return ""


async def _check_redirect(configured: str, target: str) -> str:
    """:func:`redirect_problem` with both hosts resolved as the connection would."""
    hosts = {urlsplit(configured).hostname or "", urlsplit(target).hostname or ""}
    known = {host: await _addresses(host) for host in hosts}
    return redirect_problem(configured, target, lambda host: known.get(host, []))


async def _addresses(host: str) -> list[Address]:
    """The addresses a host name resolves to (the address itself for an IP literal);
    none when it does not resolve (the connection would fail the same way)."""
    if not host:
        return []
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return []
    found: list[Address] = []
    for info in infos:
        try:
            found.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return found


_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


def _too_large(url: str, max_bytes: int) -> ContentError:
    return ContentError(
        f"{url} is larger than {max_bytes / 1024 / 1024:g} MB; stopped reading it",
        hint="a feed that large is not a feed of recent posts; check the address "
        "(imports.max_mb in digest.yaml sets the limit)",
    )
