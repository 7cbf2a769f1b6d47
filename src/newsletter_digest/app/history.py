"""The use case of `digest history`: the issues made (or one in full, with its delivery
log) and where the rotation stands, read from the state and the content; changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from newsletter_digest.config.loading import Config
from newsletter_digest.errors import StateError
from newsletter_digest.models import Delivery, IssueRecord, Pick
from newsletter_digest.state.store import open_state


@dataclass(frozen=True)
class History:
    """The issues (all, or the one asked for) and what the rotation says about them.

    ``folders``: each issue's outbox folder, in the order of ``records``; ``deliveries``:
    the delivery log of the one issue asked for; ``standing``: each section's standing
    (with sections), or ``position``: ``(cycle, shown, size)`` of the one rotation."""

    number: int | None
    records: tuple[IssueRecord, ...]
    folders: tuple[Path, ...]
    counts: dict[int, dict[str, int]]  # issue -> delivery status -> count
    deliveries: tuple[Delivery, ...]
    standing: tuple[str, ...] = ()
    position: tuple[int, int, int] | None = None


def history(config: Config, number: int | None = None) -> History:
    """The issue list (or issue ``number`` in full) and the rotation's position; a
    StateError names an issue that was never made."""
    with open_state(config.settings.state, readonly=True) as state:
        records = state.issues(number)
        picks = state.history()
        counts = state.delivery_counts()
        log = state.deliveries(number) if number is not None else []
    if number is not None and not records:
        raise StateError(
            f"there is no issue #{number}",
            "run 'digest history' to list the issues that were made",
        )
    folders = tuple(config.settings.outbox / record.folder for record in records)
    found = History(number, tuple(records), folders, counts, tuple(log))
    if number is not None:
        return found
    standing, position = _rotation(config, records, picks)
    return replace(found, standing=standing, position=position)


def _rotation(
    config: Config, records: list[IssueRecord], picks: list[tuple[Pick, ...]]
) -> tuple[tuple[str, ...], tuple[int, int, int] | None]:
    """Each section's standing as the next issues will go, or the one rotation's position."""
    from newsletter_digest.content.loading import load_content
    from newsletter_digest.content.sources import with_source_tags
    from newsletter_digest.rotation.cycles import position
    from newsletter_digest.rotation.sections import section_standing, specs_of

    s = config.settings
    excerpts = load_content(s.content).excerpts
    if s.sections:
        tagged = with_source_tags(excerpts, s.sources, config.base_dir)
        dates = [record.date for record in records]
        lines = section_standing(tagged, picks, specs_of(s.sections), s.seed, dates)
        return tuple(lines), None
    return (), position(excerpts, picks)
