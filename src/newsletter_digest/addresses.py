"""Email addresses: one strict check, shared by the config and the message headers.

``email.utils.parseaddr`` splits ``Name <user@domain>``; what it returns is then held to
the address syntax mail servers accept, so that nothing it misreads (an unquoted name with
an ``@``, an encoded-word look-alike) ever reaches a header or an SMTP envelope.
"""

from __future__ import annotations

import re
from email.utils import getaddresses, parseaddr

from newsletter_digest.errors import shorten

# Controls and line breaks, before or after any decoding (C0, DEL, C1, U+2028, U+2029).
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A user name: dot-separated words of anything but controls, spaces and RFC 5322 specials
# (non-ASCII allowed: RFC 6531); a domain: dot-separated labels, at least two.
_WORD = r'[^\x00-\x20\x7f-\x9f\u2028\u2029()<>\[\]:;@\\,."]+'
_LOCAL = re.compile(rf"{_WORD}(?:\.{_WORD})*")
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
EXAMPLE = "an address like 'Name <news@example.org>' or 'news@example.org'"


def split_mailbox(value: str) -> tuple[str, str]:
    """(display name, address) of ``Name <user@domain>`` or ``user@domain``.

    Raises ValueError, naming the value (cut short), for anything that is not exactly one
    valid address, or that holds a line break or control character.
    """
    if CONTROLS.search(value):
        raise ValueError(f"{shorten(value)} holds a line break or control character")
    name, address = parseaddr(value)
    check_address(address, value)
    _one_address(value)
    return name, address


def _one_address(value: str) -> None:
    """ValueError if the value lists several addresses (``bob@x.org, cy@y.org``), of which
    ``parseaddr`` would silently keep the first alone."""
    found = [address for _, address in getaddresses([value]) if address]
    if len(found) > 1:
        raise ValueError(
            f"{shorten(value)} holds {len(found)} addresses, not one; write one address per "
            "line (or list entry)"
        )


def check_address(address: str, shown: str | None = None) -> str:
    """The bare address ``user@domain`` if it is one a mail server accepts; else ValueError."""
    local, at, domain = address.rpartition("@")
    valid = (
        at
        and _LOCAL.fullmatch(local) is not None
        and "=?" not in local
        and len(local) <= 64
        and _DOMAIN.fullmatch(domain) is not None
        and len(domain) <= 253
    )
    if not valid:
        raise ValueError(f"{shorten(shown or address)} is not {EXAMPLE}")
    return address


def idna_address(address: str) -> str:
    """The address with its domain in IDNA form (``xn--``), as headers and SMTP need it."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as e:
        raise ValueError(f"the domain of {shorten(address)} is not a valid domain name") from e


def mailbox_key(address: str) -> str:
    """What makes two entries one mailbox: the address, case folded."""
    return parseaddr(address)[1].casefold()
