"""Links: one check for every URL a user gives (config, front matter, templates' links).

Only ``http``, ``https`` and ``mailto`` links reach an email; an http(s) link must name a
host. The same function answers at ``digest check`` and at build time, so a URL that
passes the one never fails the other.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from newsletter_digest.errors import shorten

LINK_SCHEMES = ("http", "https", "mailto")
_BAD_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]")


def url_problem(value: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> str | None:
    """Why ``value`` is not a link this program writes, or None when it is one."""
    if _BAD_CHAR.search(value):
        return "must not contain spaces or control characters (encode a space as %20)"
    try:
        parts = urlsplit(value)
    except ValueError as e:
        return f"is not a URL ({e})"
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        shown = f"'{parts.scheme}:'" if parts.scheme else "no scheme"
        starts = [f"{name}:" if name == "mailto" else f"{name}://" for name in sorted(schemes)]
        wanted = ", ".join(starts[:-1]) + f" or {starts[-1]}" if len(starts) > 1 else starts[0]
        kind = "http(s)" + (" or mailto" if "mailto" in schemes else "")
        return f"is not an {kind} URL: it must start with {wanted} (it has {shown})"
    if scheme == "mailto":
        return None if parts.path else "has no address after 'mailto:'"
    if not parts.hostname:
        return f"has no host name after '{parts.scheme}://'"
    return None


def check_url(value: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> str:
    """``value`` if it is a link this program writes; ValueError saying why not."""
    problem = url_problem(value, schemes)
    if problem is not None:
        raise ValueError(f"{shorten(value)} {problem}")
    return value


def is_safe_url(value: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> bool:
    """Whether ``value`` is a link an email may carry (surrounding spaces allowed)."""
    return url_problem(value.strip(), schemes) is None
