"""The same text twice, and highlights of one passage: telling them apart from their
neighbours, and a note from its highlight.

:func:`dedupe_key` is the form two texts are compared in.
A highlight edited on the device, highlighted again a little wider, or exported again by
another service is the same passage: same book, locations that share more than an end
point, or (a PDF, which has only pages) the same page, and most of the text in common.
A note kept with its highlight is a last paragraph starting with :data:`NOTE_LABEL`; the
passage is what comes before it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Protocol

NOTE_LABEL = "**Note:** "
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\\": None,  # Markdown escapes and hard line breaks are not part of the text
    }
)
_TRAILING_ELLIPSIS = re.compile(r"[\s.…]+$")  # "...", "…", and so a final "." too


def dedupe_key(text: str) -> str:
    """Return text in the form used to spot the same excerpt twice.

    Case, runs of whitespace, straight versus curly quotes, Markdown backslashes and a trailing
    ellipsis ("…" or "...", or a final ".") make no difference, so a source's cut-off teaser
    matches the full sentence. Applying it twice gives the same as once.
    """
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    collapsed = " ".join(folded.split())
    return _TRAILING_ELLIPSIS.sub("", collapsed)


_NOTE_BREAK = "\n\n" + NOTE_LABEL
_LOCATION = re.compile(r"\blocation\s+(\d+)(?:\s*-\s*(\d+))?", re.I)
_PAGE = re.compile(r"\bpage\s+([\w-]+)", re.I)


class Placed(Protocol):
    """A highlight's place in its book and its text."""

    @property
    def start(self) -> int | None: ...
    @property
    def end(self) -> int | None: ...
    @property
    def page(self) -> str: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Passage:
    """A highlight already in the content folder (or earlier in the same import)."""

    start: int | None
    end: int | None
    page: str
    text: str
    name: str  # the excerpt file holding it


def with_note(highlight: str, note: str) -> str:
    """A highlight's Markdown with its note under it, labelled, as Readwise shows it."""
    return f"{highlight}{_NOTE_BREAK}{note}" if note else highlight


def passage_of(body: str) -> str:
    """The highlight of an excerpt's body, without the note kept under it."""
    head, found, _note = body.rpartition(_NOTE_BREAK)
    return head if found and head.strip() else body


def placed(location: object, text: str, name: str) -> Passage | None:
    """A passage from an excerpt's ``location`` (as importers write it: "page 5, location
    70-73", "location 1523", "page 44"); None when it has neither a location nor a page."""
    if not isinstance(location, str):
        return None
    found = _LOCATION.search(location)
    page = _PAGE.search(location)
    if found is None and page is None:
        return None
    start = int(found.group(1)) if found else None
    end = max(int(found.group(2) or start), start) if found and start is not None else None
    return Passage(start, end, page.group(1) if page else "", passage_of(text), name)


def overlap(a: Placed, b: Placed) -> bool:
    """True when two highlights of one book are one passage: locations that share more than
    an end point; ranges that only touch, a single location, or only a page (a PDF's, or
    one of the two without a location) when most of the shorter text is in the longer too.
    Neighbouring passages (100-110, 110-120) stay apart."""
    if a.start is not None and b.start is not None and a.end is not None and b.end is not None:
        shared = min(a.end, b.end) - max(a.start, b.start)
        if shared < 0:
            return False
        return shared > 0 or similar(a.text, b.text)
    if not a.page or a.page != b.page:
        return False
    return similar(a.text, b.text)


def similar(a: str, b: str) -> bool:
    """Most (80%) of the shorter text is found, in order, in the longer."""
    shorter, longer = sorted((dedupe_key(a), dedupe_key(b)), key=len)
    if not shorter:
        return False
    matcher = SequenceMatcher(None, shorter, longer, autojunk=False)
    common = sum(block.size for block in matcher.get_matching_blocks())
    return common >= 0.8 * len(shorter)
