"""Mailboxes and dates for headers, without importing the ``email`` package for common cases.

The standard library's ``email`` package costs about 20 ms to import, a tenth of a whole
``digest build``. Most senders and recipients are written ``Name <user@example.org>`` or
``user@example.org`` with plain ASCII names; those are split here with one regular
expression, and everything else goes to ``email.utils.parseaddr``. Tests check both ways
give the same answer, and that :func:`date_header` writes what ``format_datetime`` does.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["date_header", "is_simple_name", "split_address"]

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
# "Name <addr>" with a name of plain words, or a bare "addr"; nothing that needs quoting.
_SIMPLE = re.compile(rf"(?:({_ATOM}(?: {_ATOM})*) <({_ADDRESS})>|({_ADDRESS}))")
_SIMPLE_NAME = re.compile(rf"{_ATOM}(?: {_ATOM})*")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def split_address(value: str) -> tuple[str, str]:
    """(display name, address) of a mailbox, as ``email.utils.parseaddr`` gives them."""
    simple = _SIMPLE.fullmatch(value)
    if simple is not None:
        name, bracketed, bare = simple.groups()
        return (name, bracketed) if bracketed else ("", bare)
    from email.utils import parseaddr

    return parseaddr(value)


def is_simple_name(name: str) -> bool:
    """Whether a display name is plain ASCII words that a header shows without quotes."""
    return _SIMPLE_NAME.fullmatch(name) is not None


def date_header(when: datetime) -> str:
    """An RFC 5322 date (``Mon, 30 Nov 2026 09:00:00 +0100``), as ``format_datetime`` does.

    Day and month names are always English, whatever the locale. A naive time is written
    with ``-0000``: its zone is unknown.
    """
    offset = when.utcoffset()
    if offset is None:
        zone = "-0000"
    else:
        minutes = round(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        hours, minutes = divmod(abs(minutes), 60)
        zone = f"{sign}{hours:02d}{minutes:02d}"
    return (
        f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {zone}"
    )
