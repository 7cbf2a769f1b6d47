"""Email addresses: one strict check, shared by the config and the message headers.

``email.utils.getaddresses`` splits ``Name <user@domain>``; a value must hold exactly one
address (so an unquoted name with an ``@``, which it reads as a second address, is refused),
and that address is then held to the syntax mail servers accept, so that nothing it misreads
(an encoded-word look-alike, say) ever reaches a header or an SMTP envelope.

Two spellings are one mailbox when mail systems deliver them to the same place: the domain
compared case-insensitively in its IDNA form, the user name exactly, but for ASCII case.
"""

from __future__ import annotations

import re
from email.utils import getaddresses

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
# What only a ``Name <user@domain>`` (or a comment, or a list) holds, never a bare address.
_NAMED = re.compile(r'[\s<>()",;:\\]')
# A-Z to a-z and nothing else: a user name's other characters are compared as they are.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def split_mailbox(value: str) -> tuple[str, str]:
    """(display name, address) of ``Name <user@domain>`` or ``user@domain``.

    Raises ValueError, naming the value (cut short), for anything that is not exactly one
    valid address, or that holds a line break or control character.
    """
    if CONTROLS.search(value):
        raise ValueError(f"{shorten(value)} holds a line break or control character")
    if _is_address(value):  # the common case, a bare address: no parsing needed
        return "", value
    found = getaddresses([value])
    name, address = found[0] if found else ("", "")
    check_address(address, value)
    listed = [a for _, a in found if a]
    if len(found) != 1:
        quoting = (
            "; a name that holds an @ must be in double quotes, as in '\"Name\" <user@example.org>'"
            if "<" in value and not name  # the name was read as an address
            else ""
        )
        raise ValueError(
            f"{shorten(value)} holds {len(listed)} addresses, not one; write one address per"
            f" line (or list entry){quoting}"
        )
    return name, address


def _is_address(value: str) -> bool:
    """Whether ``value`` is a bare ``user@domain`` of the accepted syntax."""
    local, at, domain = value.rpartition("@")
    return bool(
        at
        and len(local) <= 64
        and len(domain) <= 253
        and "=?" not in local
        and _LOCAL.fullmatch(local)
        and _DOMAIN.fullmatch(domain)
    )


def check_address(address: str, shown: str | None = None) -> str:
    """The bare address ``user@domain`` if it is one a mail server accepts; else ValueError."""
    if not _is_address(address):
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


def mailbox_key(value: str) -> str:
    """What makes two entries one mailbox (``user@domain`` or ``Name <user@domain>``): the
    user name as given but for ASCII case, and the domain in IDNA form, lower-cased.

    No Unicode folding: ``\u212aim@`` (Kelvin sign), ``straße@`` and ``\ufb01@`` (a ligature)
    are other mailboxes than ``kim@``, ``strasse@`` and ``fi@``, as they are to a mail server.
    """
    address = value
    if _NAMED.search(value):
        found = getaddresses([value])
        if len(found) != 1:  # not one address: a key no reader has (no address holds a "<")
            return value
        address = found[0][1]
    local, _, domain = address.rpartition("@")
    local = local.lower() if local.isascii() else local.translate(_ASCII_LOWER)
    return f"{local}@{domain_key(domain)}"


def domain_key(domain: str) -> str:
    """A domain as DNS compares it: its IDNA form (the one mail is sent to), lower-cased."""
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:  # not a domain that can get mail; compared as it is
            return domain.translate(_ASCII_LOWER)
    return domain.lower()
