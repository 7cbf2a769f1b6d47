"""The use case of refreshing the sources that fill the content folder, before each issue.

A feed is fetched with a conditional GET (its ETag and Last-Modified kept in the state), so
a refresh that finds nothing new costs one 304; a file is read again only when its size or
modification time changed. A source that fails is reported, kept with its error, and the
issue goes out with what is there.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import NamedTuple

from newsletter_digest.clock import local_now
from newsletter_digest.config.loading import Config
from newsletter_digest.config.schema import SourceSettings
from newsletter_digest.content.importers import (
    ImportReport,
    import_source,
    is_url,
    provenance,
)
from newsletter_digest.content.sources import source_key
from newsletter_digest.state.sources import SourceRow
from newsletter_digest.state.store import State, open_state


class SourceStatus(NamedTuple):
    """A source as `digest sources` lists it: the last refresh, what it added, its error."""

    key: str
    kind: str
    location: str
    refreshed_at: str | None
    added: int  # new excerpts in the last refresh that found something
    total: int  # excerpts this source has added or adopted, all refreshes together
    error: str
    outcome: str = ""  # this refresh: 'N new', 'not modified', 'unchanged', 'failed'
    notes: tuple[str, ...] = ()  # what the last refresh that read the source noted
    skipped: int = 0  # entries that refresh left out (`digest import` names each, and why)
    adopted: int = 0  # this refresh: excerpts a one-off import brought in, now the source's
    updated: int = 0  # this refresh: excerpts rewritten

    @property
    def read_now(self) -> bool:
        """True when this refresh read the source (its notes are new, not the last ones)."""
        return self.outcome not in ("", "unchanged", "not modified", "failed")


MAX_NOTES = 20  # kept per source; a feed with thousands of bad links needs no more to be seen


def import_once(
    config: Config | None,
    source: str,
    content_dir: Path,
    *,
    format: str | None,
    added: date,
    max_len: int,
    max_bytes: int,
    deadline: float,
) -> ImportReport:
    """``digest import`` of one file or URL: its excerpts named after it as a source of it
    would name them, so a source added later takes them as its own. Into the project's
    content folder, the state counts them for that source, and keeps a feed's ETag and
    Last-Modified as a source's are, so importing it again costs one 304."""
    base_dir = config.base_dir if config is not None else Path.cwd()
    where: str | Path = source if is_url(source) else Path(source).absolute()
    run = partial(
        import_source,
        where,
        content_dir,
        format=format,
        added=added,
        max_len=max_len,
        base_dir=base_dir,
        max_bytes=max_bytes,
        deadline=deadline,
    )
    if config is None or not _same_dir(content_dir, config):
        return run()
    with open_state(config.settings.state) as state:
        key = provenance(format or "feed", where, base_dir) if isinstance(where, str) else None
        row = state.source(key) if key is not None else None
        etag, modified = (row.etag, row.last_modified) if row else (None, None)
        report = run(etag=etag, last_modified=modified)
        key = key or provenance(report.format, where, base_dir)
        state.record_source_import(key, report.etag, report.last_modified, len(report.written))
    return report


def _same_dir(content_dir: Path, config: Config) -> bool:
    """True when content_dir is the project's content folder (validators kept in the state
    are only true of what that folder holds)."""
    return os.path.realpath(content_dir) == os.path.realpath(config.settings.content)


def _target(config: Config, source: SourceSettings) -> str | Path:
    location = source.location
    if isinstance(location, str) and not is_url(location):  # a feed as a local file
        return config.base_dir / Path(location).expanduser()
    return location


def _stamp(path: str | Path) -> str | None:
    if isinstance(path, str):
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    # "2:": files are read once more after excerpts came to name their file, so a source
    # adopts what a one-off import of it brought in before.
    return f"2:{stat.st_size}:{stat.st_mtime_ns}"


def refresh(config: Config, now: datetime | None = None) -> list[SourceStatus]:
    """Refresh every configured source into the content folder; never raises for a source."""
    s = config.settings
    if not s.sources:
        return []
    now = now or local_now()
    results: list[SourceStatus] = []
    with open_state(s.state) as state:
        for source in s.sources:
            results.append(_refresh_one(config, state, source, now))
    return results


def _refresh_one(
    config: Config, state: State, source: SourceSettings, now: datetime
) -> SourceStatus:
    key = source_key(source, config.base_dir)
    row = state.source(key) or SourceRow(None, None, None, None, 0, 0, "", "", 0)
    etag, modified, old_stamp, _, old_added, total, _, old_notes, old_skipped = row
    # Nothing read (a file unchanged, a feed not modified): the last notes still hold.
    notes, skipped = _split(str(old_notes)), int(old_skipped)
    target = _target(config, source)
    stamp = _stamp(target)
    when = now.isoformat(timespec="seconds")
    counts = (0, 0)  # adopted and updated, when this refresh read the source
    if stamp is not None and stamp == old_stamp:
        outcome, added, error = "unchanged", int(old_added), ""
    else:
        try:
            report = _import(config, source, target, key, (etag, modified), now)
        except Exception as e:
            error = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            state.record_source_error(key, when, error)
            return SourceStatus(
                key, source.kind, str(source.location), when, 0, int(total), error, "failed"
            )
        added = len(report.written)
        outcome = _outcome(report)
        if not report.not_modified:
            notes = tuple(note[:300] for note in report.notes[:MAX_NOTES])
            skipped = len(report.skipped)
            counts = (len(report.adopted), len(report.updated))
        etag, modified, error = report.etag, report.last_modified, ""
        total = int(total) + added + len(report.adopted)
    state.record_source(
        key, SourceRow(etag, modified, stamp, when, added, total, "", "\n".join(notes), skipped)
    )
    return SourceStatus(
        key, source.kind, str(source.location), when, added, int(total), error, outcome
    )._replace(notes=notes, skipped=skipped, adopted=counts[0], updated=counts[1])


def _import(
    config: Config,
    source: SourceSettings,
    target: str | Path,
    key: str,
    validators: tuple[str | None, str | None],
    now: datetime,
) -> ImportReport:
    """Read one source into the content folder (a feed asked only for what changed)."""
    etag, modified = validators
    return import_source(
        target,
        config.settings.content,
        format=source.kind,
        added=now.date(),
        etag=etag,
        last_modified=modified,
        imported_from=key,
        max_bytes=config.settings.imports.max_bytes,
        deadline=config.settings.imports.fetch_deadline,
    )


def _outcome(report: ImportReport) -> str:
    """What a refresh that read the source brought in, as the user reads it."""
    if report.not_modified:
        return "not modified"
    outcome = f"{len(report.written)} new"
    outcome += f", {len(report.adopted)} adopted" if report.adopted else ""
    outcome += f", {len(report.updated)} updated" if report.updated else ""
    outcome += f", {len(report.skipped)} skipped" if report.skipped else ""
    return outcome


def _split(notes: str) -> tuple[str, ...]:
    """The notes as the state keeps them, one per line."""
    return tuple(line for line in notes.split("\n") if line)


def statuses(config: Config, state: State) -> list[SourceStatus]:
    """Every configured source with what its last refresh recorded (nothing yet: zeros)."""
    listed: list[SourceStatus] = []
    for source in config.settings.sources:
        key = source_key(source, config.base_dir)
        row = state.source(key)
        when, added, total, error, notes, skipped = row[3:] if row else (None, 0, 0, "", "", 0)
        listed.append(
            SourceStatus(
                key, source.kind, str(source.location), when, int(added), int(total), str(error)
            )._replace(notes=_split(str(notes)), skipped=int(skipped))
        )
    return listed
