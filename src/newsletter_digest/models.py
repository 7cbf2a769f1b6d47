"""The plain, immutable data that flows between the pipeline's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Excerpt:
    """One piece of content: a teaser of an article, loaded from one file in ``content/``.

    ``id`` is the file stem and stays stable across edits; ``body`` is Markdown source.
    """

    id: str
    title: str
    body: str
    path: Path
    url: str | None = None
    author: str | None = None
    source: str | None = None
    tags: tuple[str, ...] = ()
    weight: int = 1
    added: date | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one input file; ``line`` is 1-based when known."""

    path: Path
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Pick:
    """One excerpt shown in one issue, and the rotation cycle its showing counts toward."""

    excerpt_id: str
    cycle: int


@dataclass(frozen=True, slots=True)
class Selection:
    """What rotation chose for one issue, plus where the rotation stands afterwards."""

    excerpts: tuple[Excerpt, ...]
    picks: tuple[Pick, ...]
    cycle: int
    cycle_shown: int
    cycle_size: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IssueInfo:
    """What templates know about the issue being made."""

    number: int
    date: date


@dataclass(frozen=True, slots=True)
class RenderedIssue:
    """The issue's subject and bodies, rendered once and shared by every recipient."""

    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class IssueRecord:
    """An issue as the state database remembers it."""

    number: int
    date: date
    created_at: str
    subject: str
    message_id: str
    folder: str
    picks: tuple[Pick, ...] = field(default=())
    titles: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Delivery:
    """One issue to one recipient, as the delivery log has it."""

    issue_number: int
    recipient: str
    status: str
    attempts: int
    last_reply: str
    message_id: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Slot:
    """A scheduled time an issue belongs to: a UTC instant and the time zone it came from."""

    at: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """A slot as the state remembers it: ``made`` (with its issue) or ``skipped``."""

    slot: Slot
    status: str
    issue_number: int | None
    updated_at: str
