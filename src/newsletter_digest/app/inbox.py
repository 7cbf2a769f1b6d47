"""The use case of `digest inbox`: read the returned mail (bounces, complaints, requests
to unsubscribe) and act on each message the evidence allows (see inbox/process.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter_digest.config.loading import Config
from newsletter_digest.inbox.mailboxes import InboxError
from newsletter_digest.inbox.process import Action, process


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
