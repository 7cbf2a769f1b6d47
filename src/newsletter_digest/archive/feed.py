"""The Atom feed of the archive (RFC 4287): the latest issues, newest first.

feedgenerator (the library Pelican and Django write feeds with) writes the XML: it escapes
every text and attribute; the characters XML cannot carry at all are dropped before, so the
feed is well-formed whatever the excerpts say. Entry ids are tag URIs (RFC 4151) on the
sender's domain and the issue's date: they never change, even when the archive moves to
another ``base_url``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr as split_address
from typing import IO, NamedTuple
from urllib.parse import quote

from feedgenerator import Atom1Feed  # type: ignore[import-untyped]
from feedgenerator.django.utils.xmlutils import (  # type: ignore[import-untyped]
    SimplerXMLGenerator,
)
from markupsafe import escape

from newsletter_digest.render.renderer import ExcerptView

ATOM = "http://www.w3.org/2005/Atom"
FEED = "feed.xml"  # the feed's name in the archive's root
# Characters XML 1.0 does not allow, even escaped: C0 controls but tab, CR and LF; lone
# surrogates; FFFE and FFFF. (Listed, not negated: a class that negates up to U+10FFFF takes
# ~8 ms to compile, at every start.)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class IssueEntry(NamedTuple):
    """One issue as the archive page and the feed show it."""

    number: int
    date: date
    created_at: str
    subject: str
    titles: tuple[str, ...]
    href: str
    url: str | None
    excerpts: tuple[ExcerptView, ...] | None = None


def moment(value: str) -> datetime:
    """An ISO timestamp as an aware datetime; one without a UTC offset is taken as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def rfc3339(value: datetime) -> str:
    """The form Atom dates take: ``2026-01-05T09:30:00+01:00`` (with microseconds when set)."""
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")


def distinct_moments(entries: Sequence[IssueEntry]) -> dict[int, datetime]:
    """Each entry's time; issues made in the same second get the issue number in
    microseconds, so every entry's ``updated`` differs and their order stays right."""
    stamps = {e.number: moment(e.created_at) for e in entries}
    seconds = [stamp.replace(microsecond=0) for stamp in stamps.values()]
    return {
        number: stamp + timedelta(microseconds=number % 1_000_000)
        if seconds.count(stamp.replace(microsecond=0)) > 1
        else stamp
        for number, stamp in stamps.items()
    }


def tag_uri(sender: str, day: date, specific: str) -> str:
    """``tag:example.org,2026-01-05:digest/issue-1``: the sender's domain owns the name."""
    _, address = split_address(sender)
    local, _, domain = address.rpartition("@")
    return f"tag:{domain.lower()},{day.isoformat()}:{quote(local + specific, safe='/+-._~@')}"


# What an excerpt's HTML keeps in the feed: its structure, links and images, and none of the
# email's presentation (style="", width=""), which feed validators flag and readers restyle.
_FEED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}


def semantic(html: str) -> str:
    """An excerpt's email HTML as plain semantic HTML: no style or presentational attributes."""
    import nh3

    return str(
        nh3.clean(
            html,
            attributes=_FEED_ATTRIBUTES,
            link_rel=None,
            url_schemes={"http", "https", "mailto"},
        )
    )


def content_html(entry: IssueEntry) -> str:
    """The issue's excerpts as HTML (titles, bylines, bodies, links), every text escaped."""
    parts: list[str] = []
    if entry.excerpts is None:
        parts.append("<ul>" + "".join(f"<li>{escape(t)}</li>" for t in entry.titles) + "</ul>")
    for excerpt in entry.excerpts or ():
        title = escape(excerpt.title)
        link = f'<a href="{escape(excerpt.url)}">{title}</a>' if excerpt.url else title
        parts.append(f"<h2>{link}</h2>")
        byline = " · ".join(
            part
            for part in (f"By {excerpt.author}" if excerpt.author else "", excerpt.source or "")
            if part
        )
        if byline:
            parts.append(f"<p><em>{escape(byline)}</em></p>")
        parts.append(semantic(str(excerpt.html)))  # sanitized by markdown.py already
        if excerpt.url:
            parts.append(f'<p><a href="{escape(excerpt.url)}">Read more</a></p>')
    if entry.url:
        parts.append(f'<p><a href="{escape(entry.url)}">Read this issue on the web</a></p>')
    return "\n".join(parts)


def _clean(text: str) -> str:
    """Text without the characters XML cannot carry, even escaped."""
    return _NOT_XML.sub("", text)


class _Writer(SimplerXMLGenerator):  # type: ignore[misc]  # feedgenerator has no type hints
    """feedgenerator's XML writer, writing a carriage return in text as a reference, which a
    parser would otherwise read back as a line feed (attributes already get references)."""

    def characters(self, content: str) -> None:
        """Write text, escaped, each CR as ``&#13;``."""
        first, *rest = content.split("\r")
        super().characters(first)
        for piece in rest:
            self.ignorableWhitespace("&#13;")  # written as it is: a character reference
            super().characters(piece)


class _AtomFeed(Atom1Feed):  # type: ignore[misc]  # feedgenerator has no type hints
    """feedgenerator's Atom 1.0 feed, through :class:`_Writer`, naming its generator."""

    def write(self, outfile: IO[str], encoding: str) -> None:
        """Write the feed as Atom1Feed does, with the writer above."""
        handler = _Writer(outfile, encoding, short_empty_elements=True)
        handler.startDocument()
        handler.startElement("feed", self.root_attributes())
        self.add_root_elements(handler)
        self.write_items(handler)
        handler.endElement("feed")
        handler.endDocument()

    def add_root_elements(self, handler: SimplerXMLGenerator) -> None:
        """The feed's own elements, and the generator's name."""
        super().add_root_elements(handler)
        handler.addQuickElement("generator", "newsletter-digest")


def atom_feed(
    *,
    title: str,
    sender: str,
    since: date,
    base_url: str | None,
    entries: Sequence[IssueEntry],
    language: str = "en",
) -> bytes:
    """The feed of ``entries`` (newest first, at least one); ``since`` is the first issue's date.

    Links are absolute with ``base_url``, else relative to the feed (``digest check`` warns).
    """
    # Without base_url the links are relative: readers resolve them against the feed's own
    # address, the archive's root, where they lead to the right pages (RFC 4287, 4.2.7).
    root = f"{base_url}/" if base_url else ""
    atom = _AtomFeed(
        title=_clean(title),
        link=_clean(root or "./"),
        description="",
        language=_clean(language),
        author_name=_clean(split_address(sender)[0] or title),
        feed_url=_clean(f"{root}{FEED}"),
        feed_guid=tag_uri(sender, since, ""),
    )
    stamps = distinct_moments(entries)
    for entry in entries:
        atom.add_item(
            title=_clean(entry.subject),
            link=_clean(entry.url or entry.href.removesuffix("index.html")),
            description=None,
            unique_id=tag_uri(sender, entry.date, f"/issue-{entry.number}"),
            pubdate=stamps[entry.number],
            updateddate=stamps[entry.number],
            content=_clean(content_html(entry)),
        )
    return str(atom.writeString("utf-8")).encode("utf-8")
