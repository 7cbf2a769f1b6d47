"""The use case of `digest inbox`: act on what came back (bounces, complaints, requests to
unsubscribe), one message at a time, each in one transaction.

A reader's status changes only on evidence that points at a delivery we made: the VERP
token of the address a bounce came to, or the Message-ID of the original message in the
report. A report about a message we never sent, an unsubscribe request with neither a
valid link nor passing DKIM/SPF, anything unreadable: skipped with the reason, nobody's
status changed. A message past a bound (too large, too many lines, parts or levels) is
not read: it is recorded and moved at once, so no later run pays for it again. A message
is recorded as processed in the same transaction as its effect, and only then moved; a
crash in between leaves it processed, never half.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from newsletter_digest.clock import local_now
from newsletter_digest.config.loading import Config
from newsletter_digest.config.schema import ImapSettings
from newsletter_digest.inbox import mailboxes
from newsletter_digest.inbox.classify import MAX_BYTES, Finding, classify
from newsletter_digest.inbox.imap import ImapMailbox
from newsletter_digest.inbox.mailboxes import FileMailbox, InboxError
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.inbox_reads import InboxRead, record_inbox_read
from newsletter_digest.state.store import State, open_state

SOFT_BOUNCE_DAYS = 3  # temporary failures on this many different days make a bounce


class Action(NamedTuple):
    """What was done with one message, for the log."""

    key: str
    kind: str  # bounce | complaint | unsubscribe | other
    outcome: str  # what changed, or why nothing did
    reader: str = ""  # the reader it was about, when it was about one
    decided: bool = False  # acted on (or skipped for good) and recorded as processed
    needs_you: bool = False  # a request only the user can judge


def process(config: Config, source: Path | ImapSettings, *, dry_run: bool = False) -> list[Action]:
    """Read the mailbox (a Maildir or mbox path, or an IMAP account) and act on every
    message not processed before."""
    s = config.settings
    now = local_now()
    actions: list[Action] = []
    box = ImapMailbox(source) if isinstance(source, ImapSettings) else FileMailbox(source)
    with open_state(s.state, readonly=dry_run) as state, box:
        tokens = Tokens(server_key(s.state)) if not dry_run or s.state.exists() else None
        for item in box.items():
            if state.inbox_seen(item.key):
                if not dry_run:  # processed before a crash: finish the move
                    box.done(item)
                continue
            action, change = _decide(state, tokens, item, s.authserv_id)
            actions.append(action)
            if dry_run or not action.decided:
                continue
            with state.write_lock():
                if change is not None:
                    _apply(state, change, now)
                state.mark_inbox_seen(item.key, f"{action.kind}: {action.outcome}", now.isoformat())
            box.done(item)
        if not dry_run:
            record_inbox_read(
                state,
                InboxRead(
                    now.isoformat(timespec="seconds"),
                    len(actions),
                    sum(a.decided for a in actions),
                    sum(a.needs_you for a in actions),
                ),
            )
    return actions


class _Change(NamedTuple):
    reader_id: int
    status: str  # bounced | complained | unsubscribed | soft (a temporary bounce)
    reason: str


Decision = tuple[Action, _Change | None]


def _decide(
    state: State, tokens: Tokens | None, item: mailboxes.Item, authserv_id: str | None
) -> Decision:
    if item.raw is None:
        done = f"moved unread: too large: larger than {MAX_BYTES // 2**20} MiB"
        return Action(item.key, "other", done, "", True), None
    finding = classify(item.raw, authserv_id)
    if finding.unread:  # past a bound: recorded and moved, so no later run pays again
        return Action(item.key, "other", f"moved unread: {finding.reason}", "", True), None
    if finding.kind == "other":
        return Action(item.key, "other", f"left alone: {finding.reason}"), None
    if finding.kind == "unsubscribe":
        return _unsubscribe(state, tokens, item.key, finding)
    reader, why = _evidence(state, finding)
    if reader is None:
        return Action(item.key, finding.kind, f"skipped: {why}", "", True), None
    if reader.status in book.SUPPRESSED:
        done = f"no change: already {reader.status}"
        return Action(item.key, finding.kind, done, reader.address, True), None
    if finding.kind == "complaint":
        change = _Change(reader.id, "complained", finding.reason)
    elif finding.permanent:
        change = _Change(reader.id, "bounced", f"bounce {finding.status}: {finding.reason}")
    else:
        change = _Change(reader.id, "soft", f"{finding.status}: {finding.reason}")
    verb = {"complained": "complained", "bounced": "bounced", "soft": "temporary failure"}
    return Action(item.key, finding.kind, verb[change.status], reader.address, True), change


def _evidence(state: State, finding: Finding) -> tuple[book.Reader | None, str]:
    """The reader a report is about, found through a delivery we made; else why not."""
    rows: list[str] = []
    for token in finding.verp:
        rows += state.delivery_recipients(token=token)
    by_token = bool(rows)
    for message_id in finding.message_ids:
        rows += state.delivery_recipients(message_id=message_id)
    if not rows:
        if finding.message_ids or finding.verp:
            return None, "it is about a message this digest never sent"
        return None, "it names no message of ours (no VERP address, no Message-ID)"
    reader = book.find(state, rows[0])
    if reader is None:
        return None, "the reader of that delivery is not in the book"
    if not by_token and finding.recipients and reader.address.lower() not in finding.recipients:
        return None, "the report is about another address than the message was sent to"
    return reader, ""


def _unsubscribe(state: State, tokens: Tokens | None, key: str, finding: Finding) -> Decision:
    for token in finding.tokens:
        reader = tokens.reader(state, token, "unsubscribe") if tokens else None
        if reader is not None:
            change = _Change(reader.id, "unsubscribed", "asked by mail (their link)")
            done = "unsubscribed (a valid link)"
            return Action(key, "unsubscribe", done, reader.address, True), change
    reader = book.find(state, finding.sender) if finding.sender else None
    if reader is not None and finding.authenticated:
        change = _Change(reader.id, "unsubscribed", "asked by mail (DKIM/SPF passed)")
        done = "unsubscribed (From passed DKIM or SPF)"
        return Action(key, "unsubscribe", done, reader.address, True), change
    who = finding.sender or "an unknown sender"
    why = "not a reader" if reader is None else "no valid link, and neither DKIM nor SPF passed"
    outcome = f"needs you: a request from {who} ({why})"
    return Action(key, "unsubscribe", outcome, needs_you=True), None


def _apply(state: State, change: _Change, now: datetime) -> None:
    stamp = now.isoformat(timespec="seconds")
    if change.status != "soft":
        book.set_status(state, change.reader_id, change.status, change.reason, stamp)
        return
    days = state.soft_bounce(change.reader_id, now.date().isoformat(), change.reason)
    if days >= SOFT_BOUNCE_DAYS:
        reason = f"temporary failures on {SOFT_BOUNCE_DAYS} different days; last: {change.reason}"
        book.set_status(state, change.reader_id, "bounced", reason, stamp)


@dataclass(frozen=True)
class ReturnedMail:
    """What was done with each new message; with ``dry_run``, what would be."""

    actions: tuple[Action, ...]
    dry_run: bool

    @property
    def processed(self) -> int:
        """Messages acted on (or skipped for good) and recorded as processed."""
        return sum(action.decided for action in self.actions)

    @property
    def needs_you(self) -> int:
        """Messages left for a person to judge."""
        return sum(action.needs_you for action in self.actions)


def read_returned_mail(config: Config, path: Path | None, *, dry_run: bool) -> ReturnedMail:
    """Process the mailbox at ``path`` (default: ``inbox`` in the config: a Maildir, an
    mbox or an IMAP account); an InboxError when there is none to read."""
    mailbox = path or config.settings.inbox
    if mailbox is None:
        raise InboxError("no mailbox to read", "pass PATH, or set 'inbox' in digest.yaml")
    return ReturnedMail(tuple(process(config, mailbox, dry_run=dry_run)), dry_run)
