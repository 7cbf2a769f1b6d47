"""The use case of `digest archive`: the public web archive rebuilt from the state and the
outbox (after a template change, say); the outbox's files are never touched."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter_digest.archive import pages
from newsletter_digest.config.loading import Config
from newsletter_digest.state.store import open_state


@dataclass(frozen=True)
class ArchiveRebuilt:
    """What the rebuild made: how many issues the archive holds, its index page and feed,
    the files it changed, the issues it left out (with why), and ``moved``: what to tell
    the operator when an older version's archive was removed from the outbox."""

    issues: int
    page: Path
    feed: Path | None
    changed: tuple[Path, ...]
    left_out: tuple[str, ...]
    moved: str | None


def rebuild_archive(config: Config) -> ArchiveRebuilt:
    """Rebuild every issue's web version, the index and the feed, under the state's write
    lock, so a build at the same time waits its turn (read-only before the first build)."""
    path = config.settings.state
    if not path.exists():
        with open_state(path, readonly=True) as state:
            result = pages.rebuild(config, state)
    else:
        with open_state(path) as state, state.write_lock():
            result = pages.rebuild(config, state)
    return ArchiveRebuilt(
        result.issues,
        result.page,
        result.feed,
        result.changed,
        result.left_out,
        pages.retired_warning(config, result),
    )
