"""The plain-text part wrapped for reading in any mail client: lines of at most 76
characters, broken only at spaces, so a URL is never split; quote markers (``> ``) and list
indents carried onto the continuation lines; blank lines (paragraphs) kept as they are."""

from __future__ import annotations

import re
import textwrap

WIDTH = 76
MAX_LINE = 990  # octets: under RFC 5322's 998 even where a single word is longer
_PREFIX = re.compile(r"((?:> ?)*)( *)((?:[-*+] |\d{1,9}[.)] )?)")


def wrap_text(text: str, width: int = WIDTH) -> str:
    """``text`` with every line longer than ``width`` wrapped at spaces."""
    return "\n".join(_wrap_line(line, width) for line in text.split("\n"))


def _wrap_line(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    match = _PREFIX.match(line)
    assert match is not None  # every part of the pattern is optional
    quote, indent, marker = match.groups()
    first = quote + indent + marker
    rest = quote + indent + " " * len(marker)
    lines = textwrap.wrap(
        line[len(first) :],
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,  # a URL longer than a line keeps a line of its own
        break_on_hyphens=False,
        drop_whitespace=True,
    )
    out: list[str] = []
    for wrapped in lines or [line]:
        while len(wrapped.encode()) > MAX_LINE:  # one "word" over 990 octets: cut it
            cut = len(wrapped.encode()[:MAX_LINE].decode("utf-8", "ignore"))
            out.append(wrapped[:cut])
            wrapped = rest + wrapped[cut:]
        out.append(wrapped)
    return "\n".join(out)
