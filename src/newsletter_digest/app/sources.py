"""Refresh the configured sources into the content folder (before each issue, and
``digest sources --refresh``), with what each one brought in as numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter_digest.app.refresh import SourceStatus, refresh
from newsletter_digest.config.loading import Config


@dataclass(frozen=True)
class SourceRefresh:
    """One source's refresh: what it brought in, what it noted, or why it failed."""

    key: str
    new: int  # excerpts written
    adopted: int  # excerpts a one-off import brought in before, now the source's
    updated: int
    skipped: int  # entries left out (`digest import` names each, and why)
    read: bool  # the source was read now (not unchanged, not modified, nor failed)
    error: str
    outcome: str  # as the user reads it: '2 new, 1 skipped', 'not modified', 'failed'
    notes: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """Something came in, or was updated or skipped."""
        return bool(self.new or self.adopted or self.updated or self.skipped)

    @classmethod
    def of(cls, status: SourceStatus) -> SourceRefresh:
        """The refresh as the content layer reported it."""
        read = status.read_now and not status.error
        return cls(
            key=status.key,
            new=status.added if read else 0,
            adopted=status.adopted if read else 0,
            updated=status.updated if read else 0,
            skipped=status.skipped if read else 0,
            read=read,
            error=status.error,
            outcome=status.outcome,
            notes=status.notes,
        )


@dataclass(frozen=True)
class SourcesRefreshed:
    """Every configured source's refresh, in the config's order (empty without sources)."""

    sources: tuple[SourceRefresh, ...] = ()


def refresh_sources(config: Config, now: datetime | None = None) -> SourcesRefreshed:
    """Bring in what each source has new; a failing source is reported, never raised."""
    if not config.settings.sources:
        return SourcesRefreshed()
    return SourcesRefreshed(tuple(SourceRefresh.of(status) for status in refresh(config, now)))
