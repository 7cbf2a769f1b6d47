"""The plain, immutable data that flows between the pipeline's stages.

Records on the build path are ``NamedTuple``s rather than frozen dataclasses: the same
immutable typed fields at several times less cost to define, which every scheduled run
pays at start-up (issue #6). For the same reason this module has no ``from __future__ import
annotations``: NamedTuple compiles each string annotation, where a real type costs nothing.
"""

from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple


class Excerpt(NamedTuple):
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
    # Where it came from (importers write these): book, place in it, dates, the source.
    book: str | None = None
    location: str | None = None
    highlighted: date | None = None
    published: date | None = None
    imported_from: str | None = None

    @property
    def dated(self) -> date | None:
        """When the excerpt is from: published or highlighted, else when it was added."""
        return self.published or self.highlighted or self.added


class Problem(NamedTuple):
    """Something wrong with one input file; ``line`` is 1-based when known."""

    path: Path
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class InvalidFileError(Exception):
    """A file cannot be used; carries the problems to report for it."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(problems)
        self.problems = problems


class Pick(NamedTuple):
    """One excerpt shown in one issue, and the rotation cycle its showing counts toward."""

    excerpt_id: str
    cycle: int
    section: str = ""  # the section whose rotation it counts in ("" without sections)


class SectionSpec(NamedTuple):
    """One section of an issue, as the rotation needs it (from the ``sections`` setting)."""

    title: str
    tags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since_last_issue: bool = False
    per_issue: int = 1  # how many excerpts an issue takes from this section
    required: bool = False


class Selection(NamedTuple):
    """What rotation chose for one issue, plus where the rotation stands afterwards."""

    excerpts: tuple[Excerpt, ...]
    picks: tuple[Pick, ...]
    cycle: int
    cycle_shown: int
    cycle_size: int
    warnings: tuple[str, ...] = ()
    # With sections: each section's title and how many of ``excerpts`` (in order) it has.
    sections: tuple[tuple[str, int], ...] = ()
    reasons: tuple[str, ...] = ()  # why each excerpt was picked, for the preview


class IssueInfo(NamedTuple):
    """What templates know about the issue being made."""

    number: int
    date: date


class RenderedIssue(NamedTuple):
    """The issue's subject and bodies, rendered once and shared by every recipient."""

    subject: str
    preheader: str
    html: str
    text: str


class IssueRecord(NamedTuple):
    """An issue as the state database remembers it."""

    number: int
    date: date
    created_at: str
    subject: str
    message_id: str
    folder: str
    picks: tuple[Pick, ...] = ()
    titles: tuple[str, ...] = ()


class Delivery(NamedTuple):
    """One issue to one recipient, as the delivery log has it."""

    issue_number: int
    recipient: str
    status: str
    attempts: int
    last_reply: str
    message_id: str
    updated_at: str
    token: str = ""  # opaque, per delivery: the VERP envelope sender's tag


class Slot(NamedTuple):
    """A scheduled time an issue belongs to: a UTC instant and the time zone it came from."""

    at: datetime
    timezone: str


class SlotRecord(NamedTuple):
    """A slot as the state remembers it: ``made`` (with its issue) or ``skipped``."""

    slot: Slot
    status: str
    issue_number: int | None
    updated_at: str


def folder_name(number: int) -> str:
    """An issue's name in the outbox and on the web: ``issue-0007`` (sorts in any browser)."""
    return f"issue-{number:04d}"
