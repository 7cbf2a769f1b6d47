"""RSS and Atom feeds (feedparser): each entry becomes an excerpt.

The body is the entry's summary, or its content when it has none: HTML cleaned by nh3 (no
scripts, no event handlers, no images, links kept only when they are absolute http, https or
mailto URLs), turned into Markdown by html-to-markdown, and cut at a sentence boundary near
``max_len`` characters, ending in "…". Both are Rust libraries; feedparser's own sanitizer
(pure Python, slower than the two together) is switched off, as nh3 does its work.
"""

from __future__ import annotations

import html
import re
from datetime import date
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from newsletter_digest.content.importers.base import Item, Parsed, Skip
from newsletter_digest.content.importers.cutting import cut_at_sentence
from newsletter_digest.content.teasers import first_sentence_title, plain_to_markdown
from newsletter_digest.errors import ContentError
from newsletter_digest.urls import url_problem

DEFAULT_MAX_LEN = 600

_BANG_BEFORE_LINK = re.compile(r"(?<!\\)((?:\\\\)*)!\[")  # a "!" no backslash escapes
_CODE = re.compile(r"```[\s\S]*?```|(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)")  # code
_TAG_START = re.compile(r"<(?=[A-Za-z/!])")  # where a tag begins, not a lone "<"
_SCRIPTS = {"script", "style"}
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_HTML_HINT = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


def _keep_link(tag: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter: a link's href stays only when it is an absolute http(s) or
    mailto URL (no ``javascript:``, no relative paths that would point at our own site)."""
    if attribute == "href" and url_problem(value):
        return None
    return value


_ALLOWED_TAGS = {
    "a", "b", "strong", "i", "em", "u", "s", "del", "code", "pre", "kbd", "p", "br", "div",
    "span", "blockquote", "q", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "sub", "sup", "mark", "small", "cite", "abbr", "dl", "dt", "dd",
}  # fmt: skip


# Elements whose content is not prose for the reader: dropped whole, not just their tags.
_DROPPED_WITH_CONTENT = {
    "script", "style", "iframe", "noscript", "object", "embed", "svg", "math", "template",
    "textarea", "select", "head", "title",
}  # fmt: skip


@cache
def _markdown_options() -> Any:
    """html-to-markdown's options, made once: ATX headings, "-" bullets, every character
    Markdown would read as syntax escaped, no images. Every choice is given as the library's
    own enum value: it converts names given as strings again on every call (15x the work)."""
    import html_to_markdown as h

    return h.ConversionOptions(
        heading_style=h.HeadingStyle.ATX,
        bullets="-",
        escape_misc=True,
        escape_asterisks=True,
        escape_underscores=True,
        autolinks=False,
        skip_images=True,
        extract_metadata=False,
        list_indent_type=h.ListIndentType.SPACES,
        highlight_style=h.HighlightStyle.NONE,  # <mark>: its words, not "==" CommonMark lacks
        whitespace_mode=h.WhitespaceMode.NORMALIZED,
        newline_style=h.NewlineStyle.SPACES,
        code_block_style=h.CodeBlockStyle.BACKTICKS,
        inline_data_media=h.InlineDataMedia.DROP_ELEMENT,
        hidden_content=h.HiddenContent.DROP,
        url_escape_style=h.UrlEscapeStyle.ANGLE,
        link_style=h.LinkStyle.INLINE,
        output_format=h.OutputFormat.MARKDOWN,
        tier_strategy=h.TierStrategy.AUTO,
    )


def html_to_markdown(fragment: str) -> str:
    """Return a feed's HTML as safe Markdown; text without tags is escaped as plain text.

    nh3 (ammonia) cleans the HTML first: scripts, styles, frames, images, event handlers and
    links other than http(s)/mailto go. html-to-markdown then writes the Markdown.
    """
    if "<" not in fragment:  # plain text (maybe with entities): no HTML parser needed
        return plain_to_markdown(html.unescape(fragment)) if fragment.strip() else ""
    import html_to_markdown as converter
    import nh3

    clean = nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        # href only: html-to-markdown writes a title out as unescaped Markdown, and nh3
        # allows title and lang on every tag ("*") unless told otherwise.
        attributes={"a": {"href"}, "*": set()},
        attribute_filter=_keep_link,
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        clean_content_tags=_DROPPED_WITH_CONTENT,
    )
    try:
        text = converter.convert(clean, _markdown_options()).content or ""
    except converter.ConversionError:  # never seen on cleaned HTML; keep the words anyway
        return plain_to_markdown(_plain(clean))
    # No image survives cleaning, so a "![" is a "!" in the text before a link: escaped, or
    # Markdown would read the link as an image (not in code, where "\" shows as typed).
    parts: list[str] = []
    done = 0
    for code in _CODE.finditer(text):
        parts += [_BANG_BEFORE_LINK.sub(r"\1\\![", text[done : code.start()]), code.group()]
        done = code.end()
    text = "".join([*parts, _BANG_BEFORE_LINK.sub(r"\1\\![", text[done:])])
    return _BLANK_LINES.sub("\n\n", text).strip()


def _plain(value: str, kind: str = "text/html") -> str:
    """Plain text of a title or name: as it is when the feed says it is text; else its
    HTML's words, each tag a space, a script's or style's text left out."""
    if kind == "text/plain":
        return " ".join(value.split())
    if "<" in value:
        import nh3

        spaced = _TAG_START.sub(" <", value)  # "<p>One</p><p>Two</p>": "One Two", not "OneTwo"
        value = nh3.clean(spaced, tags=set(), clean_content_tags=_SCRIPTS)
    return " ".join(html.unescape(value).split())


def _detail_type(detail: Any) -> str:
    """The type feedparser gives a title (text/plain or text/html; HTML when unknown)."""
    return str((detail or {}).get("type") or "text/html")


def _date(entry: Any, *keys: str) -> date | None:
    for key in keys:
        parsed = entry.get(key)
        if parsed:
            try:
                return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
            except ValueError:
                continue
    return None


def _body(entry: Any) -> str:
    """The entry's summary, or else its first content, as Markdown."""
    candidates: list[tuple[str, str]] = []
    if entry.get("summary"):
        # With no summary of its own, feedparser gives the content as the summary, and no
        # summary_detail: the content's type says what it is then.
        detail = entry.get("summary_detail") or (entry.get("content") or [{}])[0]
        candidates.append((entry["summary"], detail.get("type", "text/html")))
    for content in entry.get("content") or []:
        candidates.append((content.get("value", ""), content.get("type", "text/html")))
    for value, kind in candidates:
        if not value.strip():
            continue
        markdown = plain_to_markdown(value) if kind == "text/plain" else html_to_markdown(value)
        if markdown.strip():
            return markdown
    return ""


def looks_like_html_page(data: bytes) -> bool:
    """True when data starts like an HTML page rather than a feed."""
    return bool(_HTML_HINT.match(data[:4096].lstrip(b"\xef\xbb\xbf")))


def parse_feed(data: bytes, label: str, max_len: int = DEFAULT_MAX_LEN) -> Parsed:
    """Read a feed's entries as items; raise ContentError when nothing could be read."""
    import feedparser  # type: ignore[import-untyped]

    if looks_like_html_page(data):
        raise ContentError(
            f"{label} is a web page (HTML), not an RSS or Atom feed",
            hint="use the feed's own address: the page's <link rel=\"alternate\" "
            'type="application/rss+xml"> (or atom+xml) has it',
        )
    parsed = feedparser.parse(data, resolve_relative_uris=False, sanitize_html=False)
    entries = parsed.get("entries") or []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not entries and (problem is not None or not parsed.get("version")):
        why = f" ({problem})" if problem is not None else ""
        raise ContentError(
            f"{label} could not be read as an RSS or Atom feed{why}",
            hint="check that the file or URL is a feed; open it in a browser to see what it is",
        )
    result = Parsed()
    if problem is not None:
        result.notes.append(
            f"the feed is not well-formed ({problem}); read the {len(entries)} entries "
            "before the error"
        )
    feed = parsed.get("feed") or {}
    site = (
        _plain(feed.get("title") or "", _detail_type(feed.get("title_detail")))
        or urlsplit(feed.get("link") or "").hostname
        or ""
    )
    for number, entry in enumerate(entries, start=1):
        where = f"entry {number}"
        body = _body(entry)
        if not body:
            result.skipped.append(Skip("no summary or content", where))
            continue
        body = cut_at_sentence(body, max_len)
        kind = _detail_type(entry.get("title_detail"))
        title = _plain(entry.get("title") or "", kind) or first_sentence_title(body)
        link = (entry.get("link") or "").strip()
        if link and url_problem(link):
            result.notes.append(f"{where}: link {link[:80]!r} left out (not an http(s) URL)")
            link = ""
        meta: dict[str, object] = {
            "source": site,
            "url": link,
            "author": _plain(entry.get("author") or "", "text/plain"),
            "published": _date(entry, "published_parsed", "updated_parsed"),
        }
        result.items.append(Item(body, title, meta, where))
    return result
