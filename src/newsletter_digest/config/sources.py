"""Where excerpts come from: ``sources``, ``imports`` and the issue's ``sections`` (each key
declared once; Settings in schema.py holds them)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from newsletter_digest import urls
from newsletter_digest.config.durations import Span

SOURCE_KINDS = ("feed", "kindle", "readwise", "instapaper", "teasers", "markdown")


class SourceSettings(BaseModel):
    """One entry of ``sources``: a feed URL or an export file, refreshed before each issue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feed: str | None = Field(default=None, description="An RSS or Atom feed: URL or file.")
    kindle: Path | None = Field(default=None, description="A Kindle 'My Clippings.txt'.")
    readwise: Path | None = Field(default=None, description="A Readwise CSV export.")
    instapaper: Path | None = Field(default=None, description="An Instapaper CSV export.")
    teasers: Path | None = Field(default=None, description="A plain-text teasers file.")
    markdown: Path | None = Field(default=None, description="A Markdown file of excerpts.")
    tags: tuple[str, ...] = Field(
        default=(), description="Tags every excerpt from this source gets (for sections)."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSettings:
        given = [kind for kind in SOURCE_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(SOURCE_KINDS)} (got {len(given)})")
        if self.feed is not None and "://" in self.feed:
            urls.check_url(self.feed, ("https", "http"))
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in SOURCE_KINDS if getattr(self, kind) is not None)

    @property
    def location(self) -> str | Path:
        value: str | Path = getattr(self, self.kind)
        return value


class ImportSettings(BaseModel):
    """``imports``: what one source may cost, for `digest import` and the ``sources`` that
    build and run refresh."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_mb: float = Field(
        default=10,
        gt=0,
        le=1024,
        description="The largest source read, in MB (MiB): a file is refused unread, a "
        "download is stopped past it.",
    )
    fetch_deadline: Annotated[float, Span(above_zero=True, at_most=timedelta(hours=1))] = Field(
        default=60.0,
        description="How long one feed download may take in all, connecting, redirects and "
        "the body ('1m', '90s'); a source that misses it is reported and the issue goes out "
        "without it.",
    )

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)


class SectionFrom(BaseModel):
    """A section's ``from``: which excerpts it draws on (all, without one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: tuple[str, ...] = Field(default=(), description="Excerpts with any of these tags.")
    sources: tuple[str, ...] = Field(
        default=(), description="Excerpts whose source is one of these."
    )
    since_last_issue: bool = Field(
        default=False,
        description="Only excerpts new when they came in (dated after the issue before), "
        "each once; 'per_issue' is a rate: the rest wait their turn, oldest first.",
    )


class SectionSettings(BaseModel):
    """One section of every issue: a title, where its excerpts come from, how many."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    title: str = Field(min_length=1, description="The section's heading in the issue.")
    from_: SectionFrom = Field(
        default_factory=SectionFrom,
        alias="from",
        description="Which excerpts it draws on: tags, sources, since_last_issue.",
    )
    per_issue: int = Field(
        default=1, ge=1, le=100, description="Excerpts per issue in this section."
    )
    required: bool = Field(
        default=False,
        description="Fail the build when the section finds nothing (else it is left out).",
    )
