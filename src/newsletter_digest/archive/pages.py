"""The web archive: a folder of its own (``archive.folder``, ``public/``) that any web host
can serve as it is, holding only what is public:

- ``public/issue-NNNN/index.html``: the issue's web version, the email's HTML without its
  personal fields, its "View in browser" and unsubscribe parts, and with a link back;
- ``public/index.html``: every issue, newest first (template ``archive.html.j2``);
- ``public/feed.xml``: an Atom feed of the latest issues (see ``feed.py``).

All of it is derived from the state and the outbox, so it can be rebuilt at any time (after
a template change, say) without touching an issue's ``.eml``. Each file is written
atomically, and only when its bytes change. The outbox itself is private (notices,
per-reader messages with their tokens); an archive older versions wrote into it is removed
from there once the public folder has it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from markupsafe import escape

from newsletter_digest.archive import feed
from newsletter_digest.config.loading import Config
from newsletter_digest.delivery.outbox import issue_folders
from newsletter_digest.errors import OutboxError, TemplateError
from newsletter_digest.files import atomic_write
from newsletter_digest.models import Excerpt, IssueRecord, folder_name
from newsletter_digest.render.personal import personalize
from newsletter_digest.render.renderer import (
    ExcerptView,
    excerpt_view,
    page_environment,
    template_cache_dir,
    template_error,
    template_path,
)
from newsletter_digest.state.store import State, open_state

EXCERPTS_FILE = "excerpts.json"
INDEX = "index.html"
FEED = feed.FEED
TEMPLATE = "archive.html.j2"
TEMPLATE_HINT = (
    f"{TEMPLATE} sees: title, feed_href and issues (each: number, date, subject, titles, href, url)"
)
# A table row of the email that only makes sense in a mailbox (marked by its css-class).
_EMAIL_ONLY_ROW = re.compile(
    r"<tr>\s*<td\b[^>]*\bclass=\"[^\"]*(?<![\w-])(?:view-online|unsubscribe)(?![\w-])[^\"]*\""
    r"[^>]*>.*?</td>\s*</tr>",
    re.DOTALL | re.IGNORECASE,
)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
WEB_STYLE = """<style>
  .view-online, .unsubscribe { display: none !important; }
  .digest-web-nav { max-width: 600px; margin: 0 auto; padding: 16px 24px 0;
    box-sizing: border-box; font-size: 14px; line-height: 1.4;
    font-family: -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Arial, sans-serif; }
  .digest-web-nav a { color: #2f5d50; text-decoration: none; }
  .digest-web-nav a:hover { text-decoration: underline; }
  @media (prefers-color-scheme: dark) { .digest-web-nav a { color: #8fc7b4; } }
</style>
"""
WEB_NAV = f'<nav class="digest-web-nav"><a href="../{INDEX}">&larr; All issues</a></nav>'


class ArchiveResult(NamedTuple):
    """What a rebuild made: the issues in the archive, the files it changed, what it left out."""

    issues: int
    page: Path
    feed: Path | None
    changed: tuple[Path, ...] = ()
    left_out: tuple[str, ...] = ()
    retired: tuple[Path, ...] = ()  # archive files an older version wrote into the outbox


def archive_files(root: Path) -> list[Path]:
    """The files an archive in ``root`` consists of: its index, its feed, the web versions."""
    found = [root / name for name in (INDEX, FEED)]
    found += sorted(root.glob(f"issue-*/{INDEX}"))
    return [path for path in found if path.is_file()]


def retire_outbox_archive(outbox: Path) -> tuple[Path, ...]:
    """Remove the archive older versions wrote into the outbox (once the public folder has
    its own), so that nothing there looks like something to publish any more."""
    retired = []
    for path in archive_files(outbox):
        try:
            path.unlink()
        except OSError:
            continue  # left as it is; 'digest check' still names the outbox's archive
        retired.append(path)
    return tuple(retired)


def excerpts_file(excerpts: Sequence[Excerpt]) -> bytes:
    """The issue's excerpts as JSON, kept in its folder so the feed can show them later."""
    data = [
        {
            "id": e.id,
            "title": e.title,
            "url": e.url,
            "author": e.author,
            "source": e.source,
            "tags": list(e.tags),
            "body": e.body,
        }
        for e in excerpts
    ]
    return json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n"


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def read_excerpts(folder: Path) -> tuple[ExcerptView, ...] | None:
    """The excerpts kept by :func:`excerpts_file`, rendered again (safely); None if missing."""
    try:
        data = json.loads((folder / EXCERPTS_FILE).read_text(encoding="utf-8"))
        return tuple(
            excerpt_view(
                Excerpt(
                    id=str(item["id"]),
                    title=str(item["title"]),
                    body=str(item["body"]),
                    path=folder / EXCERPTS_FILE,
                    url=_optional(item.get("url")),
                    author=_optional(item.get("author")),
                    source=_optional(item.get("source")),
                    tags=tuple(str(tag) for tag in item.get("tags") or ()),
                )
            )
            for item in data
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def web_version(html: str) -> str:
    """An issue's email HTML as a web page: email-only parts out, a link back to the archive."""
    html = _EMAIL_ONLY_ROW.sub("", html)
    head_end = _HEAD_END.search(html)
    if head_end:
        html = html[: head_end.start()] + WEB_STYLE + html[head_end.start() :]
    else:
        html = WEB_STYLE + html
    body = _BODY_START.search(html)
    at = body.end() if body else 0
    return html[:at] + WEB_NAV + html[at:]


def _outbox_addressee(eml: Path) -> str | None:
    """The one address an outbox ``.eml`` is written to, if it is written to one."""
    from email.parser import BytesHeaderParser
    from email.policy import default as default_policy
    from email.utils import getaddresses

    try:
        with eml.open("rb") as handle:
            headers = BytesHeaderParser(policy=default_policy).parse(handle)
        addresses = [addr for _, addr in getaddresses([str(headers.get("To", ""))]) if addr]
    except (OSError, ValueError, TypeError):
        return None
    return addresses[0] if len(addresses) == 1 and "@" in addresses[0] else None


def _scrub(html: str, address: str | None) -> str:
    """Take a recipient's address out of HTML, in every form personal fields leave it."""
    if not address:
        return html
    for form in {address, quote(address, safe="@")}:
        escaped = str(escape(form))
        # Escaped as markupsafe does (&#39;), and as html.escape did in older outboxes.
        older = escaped.replace("&#39;", "&#x27;").replace("&#34;", "&quot;")
        for written in (escaped, older, form):
            html = html.replace(written, "")
    return html


def impersonal_html(outbox: Path, state: State, record: IssueRecord) -> str | None:
    """The issue's email HTML with no personal fields: from the state, else the outbox copy."""
    kept = state.bodies(record.number)
    if kept is not None:
        return personalize(kept, None).html
    folder = outbox / record.folder
    stem = folder_name(record.number)
    try:
        html = (folder / f"{stem}.html").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # The outbox copy carries the sole recipient's fields, if it had one: the .eml says whose.
    return _scrub(html, _outbox_addressee(folder / f"{stem}.eml"))


def render_index(
    config: Config,
    issues: Sequence[feed.IssueEntry],
    feed_href: str | None = None,
    cache_dir: Path | None = None,
) -> str:
    """The archive page: every issue (newest first) linking to its web version.

    Whatever goes wrong in the template (bad syntax, a file that is not UTF-8, an
    expression that raises) is a TemplateError naming the file.
    """
    s = config.settings
    try:
        template = page_environment(s.templates, cache_dir).get_template(TEMPLATE)
        return template.render(
            title=s.title,
            language=s.language,
            issues=issues,
            feed_href=feed_href,
        )
    except Exception as e:
        raise template_error(
            e,
            template_path(s.templates, TEMPLATE),
            templates_dir=s.templates,
            variables_hint=TEMPLATE_HINT,
        ) from e


def _sample_entries(config: Config) -> list[feed.IssueEntry]:
    """Two made-up issues, newest first, for checking the archive template."""
    base = config.settings.base_url
    entries = []
    for number, titles in ((2, ("Another one", "A third")), (1, ("A sample excerpt",))):
        day = date(2000, 1, 1) + timedelta(weeks=number - 1)
        folder = folder_name(number)
        entries.append(
            feed.IssueEntry(
                number=number,
                date=day,
                created_at=f"{day.isoformat()}T09:00:00+00:00",
                subject=f"{config.settings.title} #{number}: {titles[0]}",
                titles=titles,
                href=f"{folder}/{INDEX}",
                url=f"{base}/{folder}/" if base else None,
            )
        )
    return entries


def check_template(config: Config) -> list[str]:
    """Render the archive page with sample issues and with none; the problem, if any.

    ``digest check`` runs this as it renders a sample email, so a template that only fails
    when rendered (``{{ 1/0 }}``) is found before a build.
    """
    try:
        render_index(config, _sample_entries(config), FEED)
        render_index(config, [], None)
    except TemplateError as e:
        return [e.message]
    return []


def _created_at(record: IssueRecord) -> str:
    """The record's creation time, or the start of its day when it cannot be read."""
    try:
        feed.moment(record.created_at)
    except ValueError:
        return datetime.combine(record.date, datetime.min.time(), UTC).isoformat()
    return record.created_at


def _write(path: Path, data: bytes, *, durable: bool = True) -> bool:
    """Write ``path`` atomically unless it already holds ``data``; whether it changed.

    ``durable=False`` for the index and the feed: every build writes them again, so one lost
    to a power cut costs nothing, and a build saves their fsyncs.
    """
    try:
        # A temp file left by a writer that was killed (the caller holds the lock).
        for stale in path.parent.glob(f".{path.name}.tmp-*"):
            stale.unlink(missing_ok=True)
        if path.is_file() and path.read_bytes() == data:
            return False
        atomic_write(path, data, durable=durable)
    except OSError as e:
        raise OutboxError(
            f"cannot write {path}: {e.strerror or e}",
            "make the archive folder writable, then run 'digest archive'",
        ) from e
    return True


def rebuild(config: Config, state: State, issues: Collection[int] | None = None) -> ArchiveResult:
    """Write the issues' web versions, then the feed, then the archive page.

    ``issues`` limits the web versions rewritten to those (plus any that are missing), so a
    build does not redo every past issue; ``None`` rewrites them all (``digest archive``).
    """
    s = config.settings
    outbox = s.outbox
    public = s.archive.folder
    records = state.issues()
    present = {name for _, name in issue_folders(outbox)}
    entries: list[feed.IssueEntry] = []
    changed: list[Path] = []
    left_out: list[str] = []
    for record in records:
        folder = outbox / record.folder
        if record.folder not in present:
            left_out.append(f"issue #{record.number}: {folder} is missing")
            continue
        page = public / record.folder / INDEX
        if issues is None or record.number in issues or not page.exists():
            html = impersonal_html(outbox, state, record)
            if html is None:
                left_out.append(f"issue #{record.number}: {folder} has no readable HTML")
                continue
            _public_folder(page.parent)
            if _write(page, web_version(html).encode()):
                changed.append(page)
        entries.append(
            feed.IssueEntry(
                number=record.number,
                date=record.date,
                created_at=_created_at(record),
                subject=record.subject,
                titles=record.titles,
                href=f"{record.folder}/{INDEX}",
                url=f"{s.base_url}/{record.folder}/" if s.base_url else None,
            )
        )
    entries.reverse()
    feed_path = _write_feed(config, entries, records[0].date) if entries else None
    if feed_path is not None and feed_path[1]:
        changed.append(feed_path[0])
    index = public / INDEX
    cache_dir = template_cache_dir(config.settings.state) / "archive"
    page_html = render_index(config, entries, FEED if feed_path else None, cache_dir)
    _public_folder(public)
    if _write(index, page_html.encode(), durable=False):
        changed.append(index)
    return ArchiveResult(
        issues=len(entries),
        page=index,
        feed=feed_path[0] if feed_path else None,
        changed=tuple(changed),
        left_out=tuple(left_out),
        retired=retire_outbox_archive(outbox),
    )


def _write_feed(
    config: Config, entries: Sequence[feed.IssueEntry], since: date
) -> tuple[Path, bool]:
    """Write the feed of the latest entries (newest first) to the public folder; its path,
    and whether it changed. Each entry's excerpts come from its issue folder in the outbox."""
    s = config.settings
    shown = [
        entry._replace(excerpts=read_excerpts((s.outbox / entry.href).parent))
        for entry in entries[: s.archive.feed_items]
    ]
    data = feed.atom_feed(
        title=s.title,
        sender=s.sender,
        since=since,
        base_url=s.base_url,
        entries=shown,
        language=s.language,
    )
    path = s.archive.folder / FEED
    _public_folder(path.parent)
    return path, _write(path, data, durable=False)


def retired_warning(config: Config, result: ArchiveResult) -> str | None:
    """What to tell the operator when an older version's archive left the outbox."""
    if not result.retired:
        return None
    s = config.settings
    return (
        f"the web archive now has a folder of its own, {s.archive.folder}: publish that, and "
        f"stop publishing {s.outbox}, which holds private files (confirmation links, each "
        f"reader's message and unsubscribe link); the {len(result.retired)} archive files "
        f"older versions wrote into {s.outbox} were removed (see docs/archive.md)"
    )


def _public_folder(folder: Path) -> None:
    """Create a folder of the public archive (with the umask's mode: it is for everyone)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutboxError(
            f"cannot create the archive folder {folder}: {e.strerror or e}",
            "set 'archive.folder' in digest.yaml to a folder you can write",
        ) from e


def rebuild_archive(config: Config, issues: Collection[int] | None = None) -> ArchiveResult:
    """Rebuild under the state's write lock, so a build at the same time waits its turn."""
    path = config.settings.state
    if not path.exists():
        with open_state(path, readonly=True) as state:
            return rebuild(config, state, issues)
    with open_state(path) as state, state.write_lock():
        return rebuild(config, state, issues)
