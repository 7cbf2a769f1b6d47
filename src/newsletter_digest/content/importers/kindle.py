"""Kindle's ``My Clippings.txt``: highlights only, one per passage, the latest edit winning.

Entries are separated by lines of ``==========``. Each has a title line ``Book Title (Author)``,
a meta line (``- Your Highlight on page 12 | location 180-183 | Added on Monday, 3 March 2025
09:15:02``), a blank line and the text. Editing a highlight on the device appends a new entry
for the same book with an overlapping location range; only the one appended last is kept, and
an excerpt imported earlier from a version it supersedes is brought up to date in place.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime

from newsletter_digest.content.importers.base import (
    Item,
    Parsed,
    Skip,
    decode_text,
    natural_authors,
)
from newsletter_digest.content.importers.passages import overlap
from newsletter_digest.content.teasers import clean_text, first_sentence_title, plain_to_markdown
from newsletter_digest.errors import ContentError

SEPARATOR = "=========="
_REPLACED = "\ufffd"  # what an invalid UTF-8 byte decodes to

_KIND = re.compile(r"^-\s*(?:Your\s+)?(Highlight|Note|Bookmark|Clip)\b", re.I)
_LOCATION = re.compile(r"\bloc(?:ation|\.)?\s+(\d+)(?:\s*-\s*(\d+))?", re.I)
_PAGE = re.compile(r"\bpage\s+([\w-]+)", re.I)
_ADDED = re.compile(r"Added on\s+(.+)$", re.I)
_AUTHOR = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")
_WEEKDAY = re.compile(r"^[A-Za-z]+,\s*")
_DATE_FORMATS = (
    "%d %B %Y %H:%M:%S",  # 3 March 2025 09:15:02 (UK)
    "%B %d, %Y %I:%M:%S %p",  # March 3, 2025 9:15:02 AM (US)
    "%B %d, %Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%d %B %Y",
    "%B %d, %Y",
)


def looks_like_clippings(text: str) -> bool:
    """True when text has the layout of a Kindle clippings file."""
    head = text[:20_000]
    return f"\n{SEPARATOR}" in f"\n{head}" and bool(
        re.search(r"^-\s*Your\s+(?:Highlight|Note|Bookmark)", head, re.M | re.I)
    )


def _added(meta: str) -> datetime | None:
    match = _ADDED.search(meta)
    if not match:
        return None
    value = " ".join(_WEEKDAY.sub("", match.group(1).strip()).split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


@dataclass(slots=True)
class _Highlight:
    number: int
    line: int
    book_line: str
    book: str
    author: str
    start: int | None
    end: int | None
    page: str
    added: datetime | None
    text: str


def _location_text(h: _Highlight) -> str:
    parts = []
    if h.page:
        parts.append(f"page {h.page}")
    if h.start is not None:
        span = f"{h.start}-{h.end}" if h.end != h.start else str(h.start)
        parts.append(f"location {span}")
    return ", ".join(parts)


def parse_clippings(text: str) -> Parsed:
    """Read a clippings file's highlights as items (text already decoded and cleaned)."""
    result = Parsed()
    highlights: list[_Highlight] = []
    line = 1
    for number, block in enumerate(text.split(f"\n{SEPARATOR}"), start=1):
        highlight = _highlight(number, block, line, result)
        line += block.count("\n") + 1
        if highlight is not None:
            highlights.append(highlight)
    kept = _latest_edits(highlights, result)
    for h, earlier in kept:
        meta: dict[str, object] = {
            "source": h.book,
            "author": natural_authors(h.author),
            "book": h.book,
            "location": _location_text(h),
            "highlighted": h.added.date() if h.added else None,
        }
        markdown = plain_to_markdown(h.text)
        title = first_sentence_title(markdown)
        where = f"entry {h.number} (line {h.line})"
        replaces = tuple(plain_to_markdown(e.text) for e in earlier)
        result.items.append(Item(markdown, title, meta, where, replaces))
    return result


def _highlight(number: int, block: str, line: int, result: Parsed) -> _Highlight | None:
    """One entry of the file (starting on ``line``) as a highlight; None, with a note in
    ``result.skipped`` unless the entry is blank, when it is something else or unreadable."""
    lines = [item.strip().lstrip("\ufeff") for item in block.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
        line += 1
    if not any(lines):
        return None
    where = f"entry {number} (line {line})"
    if len(lines) < 2:
        result.skipped.append(Skip("no meta line after the title line", where))
        return None
    kind = _KIND.match(lines[1])
    if not kind:
        result.skipped.append(Skip(f"meta line not understood: {lines[1][:60]!r}", where))
        return None
    if kind.group(1).lower() != "highlight":
        result.skipped.append(Skip(f"a {kind.group(1).lower()}, not a highlight", where))
        return None
    body = "\n".join(lines[2:]).strip()
    if not body:
        result.skipped.append(Skip("the highlight has no text", where))
        return None
    match = _AUTHOR.match(lines[0])
    book, author = (match.group(1), match.group(2)) if match else (lines[0], "")
    location = _LOCATION.search(lines[1])
    start = int(location.group(1)) if location else None
    end = _range_end(location.group(1), location.group(2)) if location else None
    page = _PAGE.search(lines[1])
    found_page = page.group(1) if page else ""
    return _Highlight(
        number,
        line,
        lines[0],
        book.strip(),
        author.strip(),
        start,
        end,
        found_page,
        _added(lines[1]),
        body,
    )


def _latest_edits(
    highlights: list[_Highlight], result: Parsed
) -> list[tuple[_Highlight, list[_Highlight]]]:
    """Keep, of highlights of one book that are versions of one passage, the one appended last,
    with the earlier versions it supersedes (an earlier import may hold one of them).

    Versions are found in a chain: an entry that overlaps an earlier version of a passage
    is a version of it too, so an edit that drifted (100-110, then 105-120, then 115-130)
    is still one passage."""
    # Latest first: the device appends, so the one further down the file is the later one
    # (its date may not be readable: another language's format).
    order = sorted(highlights, key=lambda h: h.number, reverse=True)
    seen: dict[str, list[_Highlight]] = {}  # book line -> its entries so far, any version
    keeper: dict[int, _Highlight] = {}  # entry number -> the latest version of its passage
    earlier: dict[int, list[_Highlight]] = {}  # a kept entry's number -> its earlier versions
    for h in order:
        same_book = seen.setdefault(h.book_line, [])
        match = next((k for k in same_book if overlap(h, k)), None)
        same_book.append(h)
        if match is None:
            keeper[h.number] = h
            earlier[h.number] = []
            continue
        newest = keeper[h.number] = keeper[match.number]
        earlier[newest.number].append(h)
        result.skipped.append(
            Skip(
                f"an earlier version of the highlight edited in entry {newest.number}",
                f"entry {h.number} (line {h.line})",
            )
        )
    return [(h, earlier[h.number]) for h in highlights if h.number in earlier]


def _range_end(start: str, end: str | None) -> int:
    """The end of a location range; older Kindles abbreviate it ("Loc. 596-97" is 596-597),
    so an end shorter than the start takes the start's leading digits."""
    if end is None:
        return int(start)
    if len(end) < len(start):
        end = start[: len(start) - len(end)] + end
    return max(int(end), int(start))


def read_clippings(data: bytes, label: str) -> Parsed:
    """A clippings file's highlights from its bytes. An invalid UTF-8 byte (a device or a
    copy gone wrong) does not refuse the whole file: the text is decoded with replacement,
    and only a clipping holding a replaced byte is skipped, named in the report."""
    try:
        return parse_clippings(decode_text(data, label))
    except ContentError:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise  # UTF-16 that does not decode: not a byte gone wrong here and there
    text = clean_text(data.decode("utf-8-sig", "replace"))
    blocks = text.split(f"\n{SEPARATOR}")
    broken: list[Skip] = []
    line = 1
    for number, block in enumerate(blocks, start=1):
        if _REPLACED in block:  # blanked, its lines kept: the others keep their numbers
            first = line + len(block) - len(block.lstrip("\n"))  # after blank lines
            where = f"entry {number} (line {first})"
            broken.append(Skip("not valid UTF-8 (a broken byte in it)", where))
            blocks[number - 1] = "\n" * block.count("\n")
        line += block.count("\n") + 1
    parsed = parse_clippings(f"\n{SEPARATOR}".join(blocks))
    parsed.skipped[:0] = broken
    return parsed
