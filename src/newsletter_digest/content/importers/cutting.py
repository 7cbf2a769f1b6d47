"""Cutting an imported summary short: Markdown cut near a length, at a sentence end where
there is one, never inside a link, and with any code span or emphasis it opens closed.

The input is what html-to-markdown writes: inline links ``[text](url)`` (a URL with spaces
or parentheses in ``<...>``), code in backticks, ``*``/``**`` for emphasis, every other
syntax character escaped. Only a window a little past the cut is ever scanned, so a long
hostile summary costs no more than a short one.
"""

from __future__ import annotations

import re
import string
import unicodedata

_SENTENCE_END = re.compile(r"[.!?][\"')\]’”]*(?=\s)")
_TARGET = r"\((?:<[^<>\n]*>|(?:\\.|[^\s()\\])*)\)"  # a link's destination, in (...)
# A link: text without unescaped brackets, then a destination. Brackets are excluded from
# the text, so a run of "[" fails at once at each one instead of scanning to the end.
_LINK = re.compile(r"\[((?:\\.|[^\[\]\\])*)\]" + _TARGET)  # group 1: the text
_LINK_TARGET = re.compile(r"\]" + _TARGET)
_CODE = re.compile(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)")  # a code span, on one line
_MARKER = re.compile(r"\\.|`+|\*+")  # an escape (passed over), backticks or asterisks
_OPEN_BRACKET = re.compile(r"\\.|\[")  # an escape (passed over) or a link's "["
_EMPTY_BLOCK = re.compile(r"(?:^|\n)[ \t]*(?:#{1,6}|>|[-+*]|\d{1,9}[.)])?[ \t]*$")
_LOOSE_MARKERS = re.compile(r"(?:^|(?<=\s))[*`]+$")  # asterisks or backticks on nothing
_TRAILING = " \t\n.,;:-–—\\"  # left off the end before the "…"
_WINDOW = 4096  # how far past the cut a link may end and still be recognised


def cut_at_sentence(text: str, max_len: int) -> str:
    """Return Markdown cut near max_len characters at a sentence end (or else a space), plus
    "…". A link the cut would split is kept whole when it ends soon after, dropped when it
    starts late, or else cut inside its text and left as plain words; code and emphasis it
    opens are closed again."""
    if len(text) <= max_len:
        return text
    window = text[: max_len + _WINDOW]
    whole: list[tuple[int, int]] = []  # links no cut may fall inside
    limit = max_len
    for link in _LINK.finditer(window):
        if link.start() >= max_len:
            break
        if link.end() <= max_len:
            whole.append(link.span())
        elif link.end() - max_len <= max_len // 4:  # ends soon after: all of it
            whole.append(link.span())
            limit = link.end()
        elif link.start() >= max_len // 2:  # starts late: none of it
            limit = link.start()
        else:  # starts early and runs long: the cut falls in its words, the link goes
            limit = min(max_len, link.end(1))

    def outside(position: int) -> bool:
        return all(not start < position < end for start, end in whole)

    ends = [m.end() for m in _SENTENCE_END.finditer(window[:limit] + " ") if outside(m.end())]
    if ends and ends[-1] >= max_len // 2:
        cut = window[: ends[-1]]
    else:
        spaces = (i for i in range(limit - 1, max_len // 2, -1) if window[i] in " \n")
        cut = window[: next((i for i in spaces if outside(i)), limit)]
    cut, closers = _closed(_unlinked(cut))
    return cut + closers + "…"


def _unlinked(cut: str) -> str:
    """``cut`` without the "[" of a link it does not hold whole (its words stay), and
    without a last line that is only a block marker ("#", ">", "-", "2.") or markers that
    open nothing."""
    masked = _masked(cut)
    opening = [m.start() for m in _OPEN_BRACKET.finditer(masked) if m.group() == "["]
    for position in reversed(opening):
        cut = cut[:position] + cut[position + 1 :]
    while True:
        cut = cut.rstrip(_TRAILING)
        shorter = _LOOSE_MARKERS.sub("", _EMPTY_BLOCK.sub("", cut))
        if shorter == cut:
            return cut
        cut = shorter


def _closed(cut: str) -> tuple[str, str]:
    """``cut`` (less an opening marker it ends on) and what closes the code span and the
    emphasis it opens and does not close, by CommonMark's flanking and matching rules."""
    masked = _masked(cut)
    opened: list[list[int]] = []  # [asterisks still open, where], innermost last
    code = ""
    for match in _MARKER.finditer(masked):
        marker, start, end = match.group(), match.start(), match.end()
        if marker.startswith("\\"):
            continue
        if marker.startswith("`"):  # closed code spans are masked: this one is open
            code = (" " if cut.endswith("`") else "") + marker
            break
        before = masked[start - 1] if start else " "
        after = masked[end] if end < len(masked) else " "
        count = len(marker)
        if _can_close(before, after):
            while count and opened:
                used = min(count, opened[-1][0])
                opened[-1][0] -= used
                count -= used
                if not opened[-1][0]:
                    opened.pop()
        if count and _can_close(after, before):  # can open: the same rule, facing back
            opened.append([count, start])
    if not code and opened and opened[-1][1] + opened[-1][0] >= len(cut):
        return _closed(_unlinked(cut[: opened[-1][1]]))  # it opens on nothing
    return cut, code + "".join("*" * count for count, _ in reversed(opened))


def _masked(cut: str) -> str:
    """``cut`` with code spans, whole links' "](destination)" and whole links' "[" made
    dots (same length; punctuation, like what they stand for), so only the markers that
    are Markdown syntax outside them are left to count."""
    masked = _CODE.sub(_dots, cut)
    masked = _LINK.sub(lambda m: "." + m.group()[1:], masked)
    return _LINK_TARGET.sub(_dots, masked)


def _can_close(before: str, after: str) -> bool:
    """CommonMark's right-flanking rule for a run of asterisks between these characters."""
    if before.isspace():
        return False
    return not _punctuation(before) or after.isspace() or _punctuation(after)


def _punctuation(character: str) -> bool:
    return character in string.punctuation or unicodedata.category(character).startswith("P")


def _dots(match: re.Match[str]) -> str:
    return "." * len(match.group())
