"""Highlight exports as CSV: Readwise and Instapaper.

Readwise columns: Highlight, Book Title, Book Author, Amazon Book ID, Note, Color, Tags,
Location Type, Location, Highlighted at, Document tags. A highlight's Note is kept under it
(labelled, as Readwise shows it), its Tags and Document tags become tags. Instapaper
columns: URL, Title, Selection, Folder, Timestamp (Selection is the highlight; a row
without one is a saved article).
Only the highlight column is required; a missing other column is named in a note.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from newsletter_digest.content.importers.base import Item, Parsed, Skip, natural_authors
from newsletter_digest.content.importers.passages import with_note
from newsletter_digest.content.teasers import first_sentence_title, plain_to_markdown
from newsletter_digest.errors import ContentError
from newsletter_digest.urls import url_problem

READWISE_COLUMNS = (
    "Highlight",
    "Book Title",
    "Book Author",
    "Amazon Book ID",
    "Note",
    "Color",
    "Tags",
    "Location Type",
    "Location",
    "Highlighted at",
    "Document tags",
)
INSTAPAPER_COLUMNS = ("URL", "Title", "Selection", "Folder", "Timestamp")

csv.field_size_limit(16 * 1024 * 1024)  # a long highlight is fine; the file size is capped


def header(text: str) -> list[str]:
    """The CSV's first row, stripped."""
    first = next(csv.reader(io.StringIO(text[:65536])), [])
    return [name.strip() for name in first]


def csv_format(text: str) -> str | None:
    """'readwise' or 'instapaper' by the header's columns, or None when it matches neither."""
    names = set(header(text))
    readwise = len(names & set(READWISE_COLUMNS) - {"Location"})
    instapaper = len(names & set(INSTAPAPER_COLUMNS))
    if readwise == instapaper == 0:
        return None
    return "readwise" if readwise >= instapaper else "instapaper"


def _rows(
    text: str, label: str, kind: str, columns: tuple[str, ...], required: str, result: Parsed
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row by column) after checking the header."""
    reader = csv.reader(io.StringIO(text))
    names = [name.strip() for name in next(reader, [])]
    if required not in names:
        found = ", ".join(repr(n) for n in names if n) or "none"
        raise ContentError(
            f"{label}: the {kind} CSV has no '{required}' column (columns found: {found})",
            hint=f"export again from {kind.capitalize()}; its columns are {', '.join(columns)}",
        )
    missing = [name for name in columns if name not in names]
    if missing:
        result.notes.append(
            f"column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
            "missing: imported without"
        )
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            result.skipped.append(
                Skip(f"{len(row)} fields but the header has {len(names)}", f"line {line}")
            )
            continue
        yield line, {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(names)}


def _iso_date(value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_readwise(text: str, label: str) -> Parsed:
    """Read a Readwise CSV export's highlights as items."""
    result = Parsed()
    for line, row in _rows(text, label, "readwise", READWISE_COLUMNS, "Highlight", result):
        where = f"line {line}"
        highlight = row.get("Highlight", "")
        if not highlight:
            result.skipped.append(Skip("no highlight text", where))
            continue
        kind = row.get("Location Type", "").lower()
        location = row.get("Location", "")
        if kind == "order":  # the highlight's position in an article: no use to a reader
            location = ""
        elif location and kind and kind != "location":
            location = f"{kind} {location}"
        elif location:
            location = f"location {location}"
        note = row.get("Note", "")
        tags = _tags(row.get("Tags", ""), row.get("Document tags", ""))
        if _INLINE_TAGS.fullmatch(note):  # Readwise's inline tagging (".focus .habits")
            # (.h1-.h6 and .c1 are its commands for headings and joined highlights)
            tags += [t[1:] for t in note.split() if not re.fullmatch(r"\.[hc]\d", t)]
            note = ""
        meta: dict[str, object] = {
            "source": row.get("Book Title", ""),
            "author": natural_authors(row.get("Book Author", "")),
            "book": row.get("Book Title", ""),
            "location": location,
            "highlighted": _iso_date(row.get("Highlighted at", "")),
            "tags": list(dict.fromkeys(tags)),
        }
        markdown = plain_to_markdown(highlight)
        body = with_note(markdown, plain_to_markdown(note) if note else "")
        # A note added or changed in Readwise since: the excerpt takes it, in place.
        earlier = (markdown,) if note else ()
        result.items.append(Item(body, first_sentence_title(markdown), meta, where, earlier))
    return result


_INLINE_TAGS = re.compile(r"\s*(?:\.[^\W\d]\S*\s*)+")  # ".focus .habits", not "..." or ".5"


def _tags(*columns: str) -> list[str]:
    """The tags of comma-separated columns, in order."""
    return [tag.strip() for column in columns for tag in column.split(",") if tag.strip()]


def _timestamp(value: str) -> date | None:
    value = value.strip()
    if value.isdigit():
        try:
            return datetime.fromtimestamp(int(value), UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    return _iso_date(value)


def parse_instapaper(text: str, label: str) -> Parsed:
    """Read an Instapaper CSV export's highlights (Selection) as items."""
    result = Parsed()
    for line, row in _rows(text, label, "instapaper", INSTAPAPER_COLUMNS, "Selection", result):
        where = f"line {line}"
        selection = row.get("Selection", "")
        if not selection:
            result.skipped.append(Skip("no selection (a saved article, not a highlight)", where))
            continue
        url = row.get("URL", "")
        if url and url_problem(url):
            result.notes.append(f"{where}: URL {url[:80]!r} left out (not an http(s) URL)")
            url = ""
        markdown = plain_to_markdown(selection)
        meta: dict[str, object] = {
            "source": (urlsplit(url).hostname or "").removeprefix("www.") if url else "",
            "url": url,
            "highlighted": _timestamp(row.get("Timestamp", "")),
        }
        title = row.get("Title", "") or first_sentence_title(markdown)
        result.items.append(Item(markdown, " ".join(title.split()), meta, where))
    return result
