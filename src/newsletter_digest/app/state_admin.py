"""The use cases of `digest state`: a consistent backup of the state while the newsletter
runs, and a checked restore of one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter_digest.config.loading import Config
from newsletter_digest.state import backup as backups


@dataclass(frozen=True)
class StateCopy:
    """A backup written or restored: where from, where to, and what it holds."""

    source: Path
    target: Path
    issues: int
    readers: int
    schema: int
    with_secret: bool  # the link-signing secret went with it


def backup_state(config: Config, file: Path) -> StateCopy:
    """Write a consistent copy of the config's state to ``file`` (safe while serve and
    send run); it holds the link-signing secret too."""
    state = config.settings.state
    info = backups.backup(state, file)
    return StateCopy(state, file, info.issues, info.readers, info.schema, info.with_secret)


def restore_state(config: Config, file: Path, *, force: bool) -> StateCopy:
    """Replace the config's state with the backup ``file`` (checked first); a state that
    holds issues or readers is replaced only with ``force``."""
    state = config.settings.state
    info = backups.restore(file, state, force=force)
    return StateCopy(file, state, info.issues, info.readers, info.schema, info.with_secret)
