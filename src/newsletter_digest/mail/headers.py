"""Every header line of a message is made here, from text treated as text, never as MIME.

Python's ``email`` policies parse a header value they are given as if it came off the wire:
an ``=?utf-8?q?...=0D=0A...?=`` in a title is decoded, and on Python before 3.11.10 the
decoded line break is written out as a real one (header injection). So values are encoded
with ``email.header.Header`` and ``email.utils.formataddr``, which encode what they are
given and never decode it, and each finished line is checked before it is used.
"""

from __future__ import annotations

import re
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING

from newsletter_digest import addresses
from newsletter_digest.errors import ComposeError, shorten

if TYPE_CHECKING:
    from datetime import datetime

# RFC 5322's limit for any line, CRLF not counted; and the length lines are folded to.
MAX_LINE = 998
FOLD_AT = 78
# Line breaks and other control characters, before or after any decoding: C0 (CR, LF, tab
# and the rest), DEL, C1 (NEL among them) and the Unicode line and paragraph separators.
CONTROLS = addresses.CONTROLS
_SPACES = re.compile(r"\s+")
# A phrase of plain words that a header shows as it is (RFC 5322 atoms, one space apart).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PHRASE = re.compile(rf"{_ATOM}(?: {_ATOM})*")
# A folded line break: CRLF followed by white space. Any other CR or LF is an injection.
_FOLD = re.compile(r"\r\n[ \t]")
_SLUG = re.compile(r"[^a-z0-9]+")


def clean_text(text: str) -> str:
    """Text as one header line shows it: controls and line breaks become spaces, runs of
    white space one space, no space at either end."""
    return _SPACES.sub(" ", CONTROLS.sub(" ", text)).strip()


def has_controls(text: str) -> bool:
    """Whether text holds a line break or another control character (tab included)."""
    return CONTROLS.search(text) is not None


def encode_text(name: str, text: str) -> str:
    """An unstructured header value (Subject, say): folded, and RFC 2047-encoded unless it
    is plain ASCII with no ``=?`` a reader could take for an encoded word."""
    text = clean_text(text)
    plain = (
        text.isascii()
        and "=?" not in text
        and all(len(word) <= FOLD_AT - len(name) - 2 for word in text.split(" "))
    )
    header = Header(text, "us-ascii" if plain else "utf-8", FOLD_AT, header_name=name)
    return header.encode(linesep="\r\n")


def split_mailbox(value: str) -> tuple[str, str]:
    """(display name, address) of ``Name <a@b>`` or ``a@b``; ComposeError if it is none."""
    try:
        return addresses.split_mailbox(value)
    except ValueError as e:
        raise ComposeError(str(e), "write it as Name <user@example.org>") from e


def phrase(name: str) -> str:
    """A display name as a header shows it: as it is, quoted, or RFC 2047-encoded (any
    ``=?`` included, so a reader never decodes what the name only looks like)."""
    name = clean_text(name)
    if not name or (name.isascii() and "=?" not in name and _PLAIN_PHRASE.fullmatch(name)):
        return name
    if name.isascii() and "=?" not in name:
        return quote_phrase(name)
    return Header(name, "utf-8", FOLD_AT, header_name="From").encode(linesep="\r\n")


def quote_phrase(name: str) -> str:
    """An ASCII name with specials as an RFC 5322 quoted string (``email.utils`` quoting)."""
    return formataddr((name, "x@x")).rpartition(" <")[0]


def encode_mailbox(name: str, address: str, *, utf8: bool = False) -> str:
    """``Name <a@b>`` for a header, or the bare address when there is no name.

    ``utf8`` keeps a non-ASCII user name as UTF-8 (RFC 6532, for servers with SMTPUTF8).
    """
    address = ascii_address(address, utf8=utf8)
    shown = phrase(name)
    return f"{shown} <{address}>" if shown else address


def ascii_address(address: str, *, utf8: bool = False) -> str:
    """The address as a header and the SMTP envelope carry it: a non-ASCII domain in its
    IDNA form; a non-ASCII user name only with ``utf8`` (SMTPUTF8), else ComposeError."""
    try:
        address = addresses.idna_address(addresses.check_address(address))
    except ValueError as e:
        raise ComposeError(str(e), "check the address for typos") from e
    if not address.isascii() and not utf8:
        raise ComposeError(
            f"the address {shorten(address)} has a non-ASCII user name",
            "it can only be sent through a server that offers SMTPUTF8",
        )
    return address


def mailbox(value: str, *, utf8: bool = False) -> str:
    """A ``Name <a@b>`` from config or a reader list, as a header writes it."""
    name, address = split_mailbox(value)
    return encode_mailbox(name, address, utf8=utf8)


def list_id(title: str, sender: str) -> str:
    """RFC 2919 List-Id: the newsletter title as a phrase and an ASCII id on the sender's
    domain (an internationalised domain in its IDNA form)."""
    slug = _SLUG.sub("-", clean_text(title).lower())[:40].strip("-") or "digest"
    domain = ascii_address(split_mailbox(sender)[1]).rpartition("@")[2]
    shown = phrase(title)
    return f"{shown} <{slug}.{domain}>" if shown else f"<{slug}.{domain}>"


def fold_list(value: str) -> str:
    """A list of ``<URL>``s (List-Unsubscribe), folded between them so lines stay short;
    a URL itself, commas and all, is never broken."""
    return value.replace(">, <", ">,\r\n <") if len(value) > 60 else value


def date(when: datetime) -> str:
    """An RFC 5322 date; a naive time is written with -0000 (its zone unknown)."""
    return format_datetime(when)


def line(name: str, value: str, *, utf8: bool = False) -> bytes:
    """``Name: value`` with its CRLF, for a value made by this module (or a fixed one).

    The last guard: a CR or LF that is not part of a fold, a control character, a line over
    998 octets or (without ``utf8``) a byte over 127 is refused, whatever made the value.
    """
    text = f"{name}: {value}"
    unfolded = _FOLD.sub(" ", text)
    if has_controls(unfolded.replace("\t", " ")):
        raise ComposeError(
            f"the {name} header would hold a line break or control character: {shorten(value)}",
            f"remove it from what makes the {name} (config, template or excerpt)",
        )
    if not utf8 and not text.isascii():
        raise ComposeError(
            f"the {name} header is not ASCII: {shorten(value)}",
            "this is a bug in the digest: please report it",
        )
    data = f"{text}\r\n".encode()
    if any(len(part) > MAX_LINE for part in data.split(b"\r\n")):
        raise ComposeError(
            f"the {name} header has a line over {MAX_LINE} octets: {shorten(value)}",
            f"shorten what makes the {name}",
        )
    return data
