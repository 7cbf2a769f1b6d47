"""Import one source (a file or an http(s) URL) in a given or detected format."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from newsletter_digest.config import yamlload
from newsletter_digest.content.importers import csv_exports, feeds, kindle
from newsletter_digest.content.importers.base import (
    MAX_SOURCE_BYTES,
    ImportReport,
    Item,
    Parsed,
    Skip,
    decode_text,
    read_source,
    write_items,
)
from newsletter_digest.content.importers.fetching import DEADLINE_SECONDS, fetch
from newsletter_digest.content.importers.provenance import is_url, provenance
from newsletter_digest.content.loading import check_field
from newsletter_digest.content.teasers import (
    finish_teaser,
    first_sentence_title,
    plain_to_markdown,
    split_teasers,
)
from newsletter_digest.errors import ContentError

FORMATS = ("teasers", "markdown", "feed", "kindle", "readwise", "instapaper")

_FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf", ".feed")
_MARKDOWN_SUFFIXES = (".md", ".markdown")
# Front matter keys a Markdown file keeps when imported (the rest is dropped).
_MARKDOWN_KEYS = ("title", "source", "url", "author", "book", "location", "tags", "published")


def _head_text(data: bytes, name: str) -> str:
    """The first 64 KiB as text, for telling the format: a character the cut splits in two
    is dropped (the whole file is decoded strictly when it is read)."""
    head = data[:65536]
    if len(data) > len(head):
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            head = head[: len(head) - len(head) % 2]  # UTF-16: whole code units
        else:
            while head and head[-1] & 0xC0 == 0x80:  # UTF-8 continuation bytes of a cut char
                head = head[:-1]
            if head and head[-1] >= 0xC0:
                head = head[:-1]
    return decode_text(head, name)


def detect_format(name: str, data: bytes) -> str:
    """Pick a format from a source's name and first bytes (a URL is always a feed)."""
    if is_url(name):
        return "feed"
    suffix = Path(name).suffix.lower()
    if suffix in _FEED_SUFFIXES:
        return "feed"
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix == ".csv":
        found = csv_exports.csv_format(_head_text(data, name))
        if found is None:
            raise ContentError(
                f"{name}: a CSV that is neither a Readwise nor an Instapaper export",
                hint="pass --format readwise or --format instapaper if it is one of them",
            )
        return found
    head = data[:65536]
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "feed"
    try:
        text = _head_text(data, name)
    except ContentError:  # a Kindle file with a broken byte is still one (read with care)
        text = data[:65536].decode("utf-8", "replace")
        return "kindle" if kindle.looks_like_clippings(text) else "teasers"
    if kindle.looks_like_clippings(text):
        return "kindle"
    return "teasers"


def _teasers(text: str) -> Parsed:
    result = Parsed()
    for number, teaser in enumerate(split_teasers(text), start=1):
        finished = finish_teaser(teaser)
        body = plain_to_markdown(finished)
        result.items.append(Item(body, first_sentence_title(finished), {}, f"teaser {number}"))
    return result


def _markdown(text: str, label: str) -> Parsed:
    from newsletter_digest.content.frontmatter import split_front_matter

    try:
        front, body, _line = split_front_matter(text)
    except ValueError:
        raise ContentError(
            f"{label}: front matter starts with '---' but has no closing '---' line",
            hint="add the closing '---' line after the last 'key: value' line",
        ) from None
    meta: dict[str, object] = {}
    result = Parsed()
    if front and front.strip():
        try:
            loaded = yamlload.load(front)  # bounded: no alias bombs
        except (yamlload.YamlError, ValueError) as e:
            why = e.message if isinstance(e, yamlload.YamlError) else str(e)
            raise ContentError(
                f"{label}: front matter is not valid YAML ({why})", hint="fix the front matter"
            ) from e
        for key, value in loaded.items() if isinstance(loaded, dict) else ():
            if key not in _MARKDOWN_KEYS or value is None:
                continue
            try:  # the loader's own rules: what it would refuse is left out, with a note
                checked = check_field(key, value)
                meta[key] = list(checked) if isinstance(checked, tuple) else checked
            except ValueError as e:
                result.notes.append(f"{label}: {e}; left out")
    body = body.strip()
    if not body:
        result.skipped.append(Skip("no text after the front matter"))
        return result
    title = meta.pop("title", None)
    if not isinstance(title, str) or not title.strip():
        title = first_sentence_title(body)
    result.items.append(Item(body, " ".join(title.split()), meta))
    return result


def _parser(fmt: str, label: str, max_len: int) -> Callable[[bytes], Parsed]:
    def text(data: bytes) -> str:
        return decode_text(data, label)

    parsers: dict[str, Callable[[bytes], Parsed]] = {
        "feed": lambda data: feeds.parse_feed(data, label, max_len),
        "kindle": lambda data: kindle.read_clippings(data, label),
        "readwise": lambda data: csv_exports.parse_readwise(text(data), label),
        "instapaper": lambda data: csv_exports.parse_instapaper(text(data), label),
        "markdown": lambda data: _markdown(text(data), label),
        "teasers": lambda data: _teasers(text(data)),
    }
    return parsers[fmt]


def import_source(
    source: str | Path,
    content_dir: Path,
    *,
    format: str | None = None,
    added: date | None = None,
    max_len: int = feeds.DEFAULT_MAX_LEN,
    etag: str | None = None,
    last_modified: str | None = None,
    imported_from: str | None = None,
    max_bytes: int = MAX_SOURCE_BYTES,
    deadline: float = DEADLINE_SECONDS,
    base_dir: Path | None = None,
) -> ImportReport:
    """Import one source (file path or http(s) URL) into content_dir; return what happened.

    ``format`` is one of FORMATS, or None to detect it. For a URL, ``etag`` and
    ``last_modified`` make the fetch conditional; the report carries the new ones, and
    ``not_modified`` with nothing imported when the server answered 304. ``imported_from``
    names the source in each excerpt's front matter: by default the format and the URL,
    or the file's path from ``base_dir`` (the project folder; the working folder if None),
    as a configured source of the same file is named. A file over ``max_bytes`` is not
    read, a download is stopped past it or ``deadline`` seconds. Raises ContentError
    when nothing at all could be read from the source.
    """
    if format is not None and format not in FORMATS:
        raise ContentError(
            f"unknown import format {format!r}", hint=f"use one of {', '.join(FORMATS)}"
        )
    name = str(source)
    fetched: Any = None
    if isinstance(source, str) and is_url(source):
        fetched = fetch(source, etag, last_modified, max_bytes=max_bytes, deadline=deadline)
        if fetched.not_modified:
            return _not_modified(name, format or "feed", fetched)
        data, fmt = fetched.body, format or "feed"
    else:
        data = read_source(Path(source), max_bytes)
        fmt = format or detect_format(name, data)
    where = source if isinstance(source, str) and is_url(source) else Path(source).absolute()
    imported_from = imported_from or provenance(fmt, where, base_dir or Path.cwd())
    parsed = _parser(fmt, name, max_len)(data)
    written = write_items(parsed.items, content_dir, imported_from, added)
    return ImportReport(
        source=name,
        format=fmt,
        written=written.created,
        updated=written.updated,
        adopted=written.adopted,
        duplicates=written.duplicates,
        skipped=tuple(parsed.skipped),
        notes=(*parsed.notes, *written.notes),
        etag=fetched.etag if fetched else None,
        last_modified=fetched.last_modified if fetched else None,
    )


def _not_modified(name: str, fmt: str, fetched: Any) -> ImportReport:
    """What a conditional fetch the server answered 304 reports: nothing imported, and the
    validators to send next time."""
    return ImportReport(
        name, fmt, not_modified=True, etag=fetched.etag, last_modified=fetched.last_modified
    )
