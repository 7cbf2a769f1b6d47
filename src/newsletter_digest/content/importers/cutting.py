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
_LINK = re.compile(r"\[(?:\\.|[^\[\]\\])*\]" + _TARGET)
_LINK_TARGET = re.compile(r"\]" + _TARGET)
_CODE = re.compile(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)")  # a code span, on one line
_MARKER = re.compile(r"\\.|`+|\*+")  # an escape (passed over), backticks or asterisks
_TRAILING = " \t\n.,;:-–—\\"  # left off the end before the "…"
_WINDOW = 4096  # how far past the cut a link may end and still be recognised


def cut_at_sentence(text: str, max_len: int) -> str:
    """Return Markdown cut near max_len characters at a sentence end (or else a space), plus
    "…"; links whole or not at all, and code or emphasis left open closed again."""
    if len(text) <= max_len:
        return text
    window = text[: max_len + _WINDOW]
    links: list[tuple[int, int]] = []
    limit = max_len
    for link in _LINK.finditer(window):
        if link.start() >= max_len:
            break
        links.append(link.span())
        if link.end() > max_len:  # the cut would split it: all of it, or none of it
            limit = link.end() if link.start() < max_len // 2 else link.start()

    def outside(position: int) -> bool:
        return all(not start < position < end for start, end in links)

    ends = [m.end() for m in _SENTENCE_END.finditer(window[:limit] + " ") if outside(m.end())]
    if ends and ends[-1] >= max_len // 2:
        cut = window[: ends[-1]]
    else:
        spaces = (i for i in range(limit - 1, max_len // 2, -1) if window[i] in " \n")
        cut = window[: next((i for i in spaces if outside(i)), limit)]
    cut, closers = _closed(cut.rstrip(_TRAILING))
    return cut + closers + "…"


def _closed(cut: str) -> tuple[str, str]:
    """``cut`` (less an opening marker it ends on) and what closes the code span and the
    emphasis it opens and does not close, by CommonMark's flanking rules."""
    masked = _LINK_TARGET.sub(_spaces, _CODE.sub(_spaces, cut))  # no markers in those
    opened: list[tuple[str, int]] = []  # (marker, where), innermost last
    for match in _MARKER.finditer(masked):
        marker, start, end = match.group(), match.start(), match.end()
        if marker.startswith("\\"):
            continue
        if marker.startswith("`"):  # closed code spans are masked: this one is open
            opened.append((marker, start))
            break
        before = masked[start - 1] if start else " "
        after = masked[end] if end < len(masked) else " "
        if _can_close(before, after) and opened and opened[-1][0] == marker:
            opened.pop()
        elif _can_close(after, before):  # can open: the same rule, facing the other way
            opened.append((marker, start))
    if opened and opened[-1][1] + len(opened[-1][0]) >= len(cut.rstrip()):
        return _closed(cut[: opened[-1][1]].rstrip(_TRAILING))  # it opens on nothing
    return cut, "".join(marker for marker, _ in reversed(opened))


def _can_close(before: str, after: str) -> bool:
    """CommonMark's right-flanking rule for a run of asterisks between these characters."""
    if before.isspace():
        return False
    return not _punctuation(before) or after.isspace() or _punctuation(after)


def _punctuation(character: str) -> bool:
    return character in string.punctuation or unicodedata.category(character).startswith("P")


def _spaces(match: re.Match[str]) -> str:
    return " " * len(match.group())
