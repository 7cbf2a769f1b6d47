"""The use case of ``digest check``: look at everything a build needs and list every
problem at once."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter_digest.addresses import mailbox_key
from newsletter_digest.clock import local_now
from newsletter_digest.config.loading import Config
from newsletter_digest.errors import DigestError

if TYPE_CHECKING:
    from newsletter_digest.readers.book import Reader


@dataclass(frozen=True)
class CheckReport:
    """What was checked (lines), what is wrong (problems) and what to know (warnings)."""

    lines: tuple[str, ...]
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass
class _Findings:
    """The report as the checks fill it in, one list each."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _writable_folder(label: str, folder: Path, report: _Findings) -> None:
    """A folder is fine if it exists and is writable, or can be created where it should be."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        report.problems.append(f"{label}: {folder} is not a writable folder")


def _mode(path: Path) -> int | None:
    """The permission bits of ``path``, or None when it is not there."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return None


def _others_can_read(path: Path) -> int | None:
    """The mode of ``path`` when users other than its owner may read it, else None."""
    mode = _mode(path)
    return mode if mode is not None and mode & 0o044 else None


def _private_files(config: Config, report: _Findings) -> None:
    """Warn when other users can read what holds readers' addresses or secrets: the state
    (and its WAL files), the key that signs links, the DKIM key, notices and per-reader
    messages."""
    s = config.settings
    what = {
        s.state: "it holds readers' addresses",
        s.state.with_name(f"{s.state.name}-wal"): "it holds readers' addresses",
        s.state.with_name(f"{s.state.name}-shm"): "it holds readers' addresses",
        s.state.parent / "secret": "it signs readers' unsubscribe and confirmation links",
    }
    if s.dkim is not None:
        what[s.dkim.key_file] = f"whoever reads it can sign mail as {s.dkim.domain}"
    for path, why in what.items():
        mode = _others_can_read(path)
        if mode is not None:
            report.warnings.append(
                f"{path} is readable by other users (mode {mode:04o}); {why}: chmod 600 {path}"
            )
    folders = [s.outbox / "notices", *sorted(s.outbox.glob("issue-*/messages"))]
    for folder in folders:
        mode = _mode(folder)
        if mode is None or not mode & 0o055:
            continue  # missing, or closed to others: what is inside is safe
        if any(_others_can_read(f) is not None for f in folder.iterdir() if f.is_file()):
            report.warnings.append(
                f"{folder} holds messages to readers (addresses, their unsubscribe or "
                f"confirmation links) that other users can read: chmod -R go-rwx {folder}"
            )


# A reader's link with its token: whoever has it can unsubscribe or confirm that reader.
_TOKEN_LINK = re.compile(rb"/(?:unsubscribe|confirm)/[A-Za-z0-9_.-]{20,}")
_PRIVATE_NAMES = re.compile(r"\.eml$|\.db(-wal|-shm|-journal)?$|\.lock$|^secret$")
_PRIVATE_FOLDERS = {"notices", "messages", ".digest"}
PUBLIC_FILE_LIMIT = 5 * 1024 * 1024  # larger files are not read for tokens


def _looks_private(path: Path, root: Path) -> bool:
    """A message, a state or key file, something from a private folder, or a token link."""
    parts = path.relative_to(root).parts
    if _PRIVATE_NAMES.search(path.name) or _PRIVATE_FOLDERS & set(parts[:-1]):
        return True
    try:
        return path.stat().st_size <= PUBLIC_FILE_LIMIT and bool(
            _TOKEN_LINK.search(path.read_bytes())
        )
    except OSError:
        return False


def _public_folder(config: Config, report: _Findings) -> None:
    """Warn when the folder to publish holds anything private, and when the outbox still
    holds an archive from an older version (which suggests the outbox is what is published)."""
    from newsletter_digest.archive.pages import archive_files

    s = config.settings
    public = s.archive.folder
    if public.is_dir():
        private = [
            p for p in sorted(public.rglob("*")) if p.is_file() and _looks_private(p, public)
        ]
        if private:
            names = ", ".join(str(p.relative_to(public)) for p in private[:3])
            more = f" and {len(private) - 3} more" if len(private) > 3 else ""
            report.warnings.append(
                f"archive: {public} is the folder to publish, but it holds private files "
                f"(readers' messages, addresses or unsubscribe links): {names}{more}; remove "
                "them: the archive is only index.html, feed.xml and issue-NNNN/index.html"
            )
    old = archive_files(s.outbox)
    if old:
        report.warnings.append(
            f"archive: {s.outbox} holds the web archive of an older version ({len(old)} files); "
            f"the archive now lives in {public}: run 'digest archive', then publish {public} "
            "and stop publishing the outbox, which holds private files (docs/archive.md)"
        )


def _next_issue(config: Config, report: _Findings) -> None:
    """Render the next issue as a dry run would (nothing written) and check what only a
    rendered issue shows: its size against Gmail's clipping limit, images without alt."""

    from newsletter_digest.app.issues import dry_run, outbox_message
    from newsletter_digest.mail import mailcheck

    now = local_now()
    try:
        plan = dry_run(config, now.date()).plan
        eml = outbox_message(config, plan.rendered, "<check@example.invalid>", now)
    except DigestError:
        return  # content, template or state problems are listed on their own
    size = len(plan.rendered.html.encode())
    report.lines.append(f"next issue: #{plan.info.number}, HTML {size / 1024:.0f} KB")
    report.warnings += [f"next issue: {warning}" for warning in plan.warnings]
    images = mailcheck.images(mailcheck.parse(eml))
    if images.status != "ok":
        report.warnings.append(f"next issue: {images.detail}")


def _welcome(config: Config, report: _Findings) -> None:
    """The welcome file, if one is configured, must be there and readable UTF-8 text."""
    path = config.settings.welcome
    if path is None:
        return
    try:
        path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        report.problems.append(f"welcome: cannot read {path}: {getattr(e, 'strerror', None) or e}")
        return
    report.lines.append(f"welcome: {path} is sent once to each reader who confirms")


def run_checks(config: Config) -> CheckReport:
    """Config is already valid when this runs; check content, templates, outbox and state."""
    s = config.settings
    report = _Findings()
    report.lines.append(f"config: {config.path} is valid")
    _dkim(config, report)
    _base_url(config, report)
    _content(config, report)
    _templates(config, report)
    _welcome(config, report)
    _writable_folder("outbox", s.outbox, report)
    _writable_folder("state", s.state.parent, report)
    _private_files(config, report)
    _public_folder(config, report)
    listed = {mailbox_key(entry) for entry in config.iter_recipients()}
    _recipients(config, report, listed, _state(config, report, listed))
    return CheckReport(tuple(report.lines), tuple(report.problems), tuple(report.warnings))


def _dkim(config: Config, report: _Findings) -> None:
    """The DKIM key, when one is configured, must sign: then show the DNS record to publish."""
    s = config.settings
    if s.dkim is None:
        return
    from newsletter_digest.mail import dkim

    try:
        key = dkim.load_key(s.dkim.domain, s.dkim.selector, s.dkim.key_file)
    except DigestError as e:
        report.problems.append(f"{e.message} (hint: {e.hint})")
        return
    name, value = dkim.dns_record(key)
    report.lines.append(f"dkim: {s.dkim.key_file} signs; publish this DNS TXT record:")
    strings = " ".join(f'"{part}"' for part in dkim.txt_strings(value))
    report.lines.append(f"  {name}  TXT  {strings}")


def _base_url(config: Config, report: _Findings) -> None:
    """Without base_url there is no one-click unsubscribe and the feed's links are relative."""
    s = config.settings
    if s.base_url:
        return
    report.warnings.append(
        "one-click unsubscribe (RFC 8058, which Gmail, Yahoo and Outlook require of bulk "
        "senders) needs base_url and 'digest serve' answering at it; until then messages "
        "carry only the unsubscribe setting" + ("" if s.unsubscribe else ", which is unset")
    )
    report.warnings.append(
        "feed.xml: without base_url its links (rel=self included) are relative to where it "
        "is served, and emails have no 'View in browser' link; set base_url to the "
        "archive's address for absolute ones, as feed validators and some readers want"
    )


def _content(config: Config, report: _Findings) -> None:
    """The content folder: every excerpt that does not load, and enough active ones."""
    from newsletter_digest.content.loading import load_content

    s = config.settings
    try:
        loaded = load_content(s.content)
    except DigestError as e:
        report.problems.append(f"content: {e.message}")
        return
    report.problems += [f"content: {problem}" for problem in loaded.problems]
    active = [e for e in loaded.excerpts if e.active]
    report.lines.append(
        f"content: {len(loaded.excerpts)} excerpts loaded ({len(active)} active), "
        f"{len({problem.path for problem in loaded.problems})} skipped"
    )
    if not active:
        report.problems.append(f"content: no active excerpts in {s.content}")
    elif len(active) < s.per_issue:
        report.lines.append(
            f"content: only {len(active)} active excerpts for per_issue: {s.per_issue}"
        )


def _templates(config: Config, report: _Findings) -> None:
    """Every template compiles (the archive page's too); then the next issue renders."""
    from newsletter_digest.app.issues import make_renderer
    from newsletter_digest.archive import pages as archive

    try:
        template_problems = make_renderer(config).check()
    except DigestError as e:
        template_problems = [e.message]
    # The archive page is rendered after every build: find its problems before one (a file
    # that does not compile or read is listed by the renderer's check already).
    template_problems += [
        problem for problem in archive.check_template(config) if problem not in template_problems
    ]
    report.problems += [f"templates: {problem}" for problem in template_problems]
    if not template_problems:
        report.lines.append("templates: all compile")
        _next_issue(config, report)


def _state(config: Config, report: _Findings, listed: set[str]) -> int | None:
    """The state's issues; and, read from its reader book in the same look, how many
    readers the next send goes to (None without a readable state: the config's lists)."""
    from newsletter_digest.readers import book
    from newsletter_digest.state.store import open_state

    s = config.settings
    if not s.state.exists():
        report.lines.append(f"state: {s.state} will be created by the first build")
        return None
    try:
        with open_state(s.state, readonly=True) as state:
            report.lines.append(f"state: {state.last_number()} issues recorded")
            return active_count(book.readers(state), listed)
    except DigestError as e:
        report.problems.append(f"state: {e.message}")
        return None


def active_count(readers: Iterable[Reader], listed: set[str]) -> int:
    """Readers the next send goes to, in one pass over the book: active ones (config ones
    only while the config lists them), plus the config's readers the book has no row for."""
    active = in_book = 0
    for reader in readers:
        key = mailbox_key(reader.address)
        in_book += key in listed
        if reader.status == "active":
            active += key in listed if reader.source == "config" else 1
    return active + len(listed) - in_book


def _recipients(config: Config, report: _Findings, listed: set[str], active: int | None) -> None:
    """Who the next issue goes to, counted as a send counts them: the reader book's active
    readers and the config's lists (a config reader the book has as unsubscribed, bounced
    or complained is not one; one the book does not have yet comes in active). ``listed``:
    the config's readers' mailbox keys; ``active``: the count from the book, None without one."""
    from newsletter_digest.app.sending import delivers as sends

    total = len(listed) if active is None else active
    delivers = sends(config)
    if not total:
        report.lines.append("recipients: none (outbox only)")
        if delivers:
            report.warnings.append(
                "recipients: no active readers, so a send has nobody to send to; add some with "
                "'digest readers add' or 'digest readers import', or 'recipients' in the config"
            )
        return
    notes = []
    if len(listed) < config.recipient_count:
        twice = config.recipient_count - len(listed)
        notes.append(f"{twice} listed twice in the config; each gets one copy")
    if not delivers:
        notes.append("no smtp section: the issue stays in the outbox")
    plural = "reader" if total == 1 else "readers"
    report.lines.append(
        f"recipients: {total} active {plural}" + (f" ({'; '.join(notes)})" if notes else "")
    )
