"""Excerpt importers: other people's exports into excerpt files in the content folder.

Takes a source, a file or an http(s) URL, in one of these formats: plain-text teasers, a
Markdown file, an RSS or Atom feed, Kindle's ``My Clippings.txt``, a Readwise or an Instapaper
CSV export (detected from the name and the first bytes, or given). Gives one Markdown file per
new excerpt, written atomically, with its provenance in the front matter (source, url, author,
book, location, highlighted, published, tags, imported_from: the format and the file or URL,
title, added), and an
:class:`ImportReport`: files written, duplicates (by :func:`dedupe_key`, against the folder
and the batch), entries skipped with the reason, notes. Raises ContentError only when nothing
at all could be read from the source.
"""

from newsletter_digest.content.importers.base import (
    MAX_SOURCE_BYTES,
    ImportReport,
    Item,
    Skip,
    write_items,
)
from newsletter_digest.content.importers.cutting import cut_at_sentence
from newsletter_digest.content.importers.feeds import html_to_markdown
from newsletter_digest.content.importers.fetching import FetchResult, fetch
from newsletter_digest.content.importers.passages import dedupe_key
from newsletter_digest.content.importers.provenance import is_url, location_of, provenance
from newsletter_digest.content.importers.sources import FORMATS, detect_format, import_source

__all__ = [
    "FORMATS",
    "MAX_SOURCE_BYTES",
    "FetchResult",
    "ImportReport",
    "Item",
    "Skip",
    "cut_at_sentence",
    "dedupe_key",
    "detect_format",
    "fetch",
    "html_to_markdown",
    "import_source",
    "is_url",
    "location_of",
    "provenance",
    "write_items",
]
