"""The use cases of `digest import` (files and feed URLs turned into excerpt files in the
content folder, once) and of `digest sources` (the configured sources as they stand)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from newsletter_digest.app.refresh import SourceStatus, import_once, refresh, statuses
from newsletter_digest.config.loading import Config
from newsletter_digest.config.schema import ImportSettings
from newsletter_digest.content.importers import ImportReport
from newsletter_digest.errors import DigestError
from newsletter_digest.state.store import open_state


@dataclass(frozen=True)
class SourceImport:
    """One source's import: what it did, or the error that stopped it."""

    source: str
    report: ImportReport | None
    error: DigestError | None = None


@dataclass(frozen=True)
class Imported:
    """Every source's import, in the order they were given."""

    sources: tuple[SourceImport, ...]

    @property
    def failed(self) -> bool:
        return any(one.error is not None for one in self.sources)


def import_sources(
    config: Config | None,
    sources: Sequence[str],
    *,
    fmt: str | None,
    target: Path | None,
    max_length: int,
    added: date,
    each: Callable[[SourceImport], None] = lambda one: None,
) -> Imported:
    """Import each source into ``target`` (default: the config's content folder); ``config``
    is None for ``--to`` with no config file (the default ``imports`` limits then apply).

    One source that fails raises its error; of several, a failing one is reported and the
    others are imported all the same. ``each`` hears of every source as it is done (an
    import of feeds can take a while)."""
    limits = config.settings.imports if config is not None else ImportSettings()
    if target is None:
        assert config is not None, "a content folder comes from --to or the config"
        target = config.settings.content
    done: list[SourceImport] = []
    for source in sources:
        try:
            report = import_once(
                config,
                source,
                target,
                format=fmt,
                added=added,
                max_len=max_length,
                max_bytes=limits.max_bytes,
                deadline=limits.fetch_deadline,
            )
        except DigestError as e:
            if len(sources) == 1:
                raise
            done.append(SourceImport(source, None, e))
        else:
            done.append(SourceImport(source, report))
        each(done[-1])
    return Imported(tuple(done))


@dataclass(frozen=True)
class SourcesListed:
    """Each configured source as the state has it; ``now``: what a refresh asked for just
    brought in, by source key (empty without one)."""

    sources: tuple[SourceStatus, ...]
    now: dict[str, str]


def list_sources(config: Config, *, refresh_now: bool) -> SourcesListed:
    """The configured sources: last refresh, excerpts added, last error; refreshed first
    when asked (as build and run do)."""
    now = {s.key: s.outcome for s in refresh(config)} if refresh_now else {}
    with open_state(config.settings.state) as state:
        return SourcesListed(tuple(statuses(config, state)), now)
