"""Fetch a feed over http(s): bounded in time and size, with conditional GET.

Pass the ETag and Last-Modified of the previous fetch; a server that has nothing new answers
304 and :func:`fetch` returns ``not_modified=True`` with no body.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter_digest.errors import ContentError

USER_AGENT = "newsletter-digest/0.1"
TIMEOUT_SECONDS = 20.0
MAX_FEED_BYTES = 20 * 1024 * 1024


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
) -> FetchResult:
    """GET url (http or https only) with a conditional request; raise ContentError on failure.

    The body is read in a stream and the fetch stops as soon as it passes max_bytes.
    """
    import httpx

    if not url.lower().startswith(("http://", "https://")):
        raise ContentError(f"cannot fetch {url}: only http and https URLs are supported")
    headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            final = str(response.url)
            new_etag = response.headers.get("ETag") or etag
            new_modified = response.headers.get("Last-Modified") or last_modified
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
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise _too_large(url, max_bytes)
                chunks.append(chunk)
            content_type = response.headers.get("Content-Type", "")
    except httpx.TimeoutException as e:
        raise ContentError(
            f"{url} did not answer within {timeout:.0f} s",
            hint="try again later; check the address",
        ) from e
    except httpx.HTTPError as e:
        raise ContentError(
            f"cannot fetch {url}: {e}", hint="check the address and the network connection"
        ) from e
    return FetchResult(final, False, b"".join(chunks), new_etag, new_modified, content_type)


_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


def _too_large(url: str, max_bytes: int) -> ContentError:
    return ContentError(
        f"{url} is larger than {max_bytes // 1024 // 1024} MiB; stopped reading it",
        hint="a feed that large is not a feed of recent posts; check the address",
    )
