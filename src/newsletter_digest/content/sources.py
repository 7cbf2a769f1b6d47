"""Configured sources as the content sees them: the name each gives its excerpts
(``imported_from``) and the tags it lends them. Pure: no state, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from newsletter_digest.config.schema import SourceSettings
from newsletter_digest.content.importers import location_of, provenance
from newsletter_digest.models import Excerpt


def source_key(source: SourceSettings, base_dir: Path) -> str:
    """The name of a source in the state and in its excerpts' ``imported_from``: the same
    name a one-off ``digest import`` of its file or URL gives (see :func:`provenance`)."""
    return provenance(source.kind, source.location, base_dir)


def with_source_tags(
    excerpts: Sequence[Excerpt], sources: Sequence[SourceSettings], base_dir: Path
) -> list[Excerpt]:
    """The excerpts, each one that came from a configured source's file or URL (a refresh
    or a one-off import of it) carrying that source's tags as the config has them now:
    changing a source's tags moves what it brought between sections, and the files are not
    rewritten."""
    tags: dict[str | None, tuple[str, ...]] = {}
    for source in sources:
        where = location_of(source_key(source, base_dir))
        tags[where] = (*tags.get(where, ()), *source.tags)
    tags = {where: found for where, found in tags.items() if found}
    if not tags:
        return list(excerpts)
    tagged: list[Excerpt] = []
    for excerpt in excerpts:
        extra = tags.get(location_of(excerpt.imported_from), ())
        merged = tuple(dict.fromkeys((*excerpt.tags, *extra)))
        tagged.append(excerpt._replace(tags=merged) if extra else excerpt)
    return tagged
