"""The parsed-content cache: what loading a file gave, kept between runs by the file's name.

One JSON file holds, for each file path, its stamp (mtime and size) and what it loaded to:
an excerpt's fields by name (those at their default left out), or the file's problems. A
file whose stamp did not change is not read again (at 10,000 excerpts a load takes a tenth
of the time; see docs/performance.md). It is an object passed to ``load_content``, never
module state; a missing, stale or broken cache (or entry) reads as none and is rebuilt.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

from newsletter_digest.files import save_cache
from newsletter_digest.models import Excerpt, Problem

__all__ = ["ContentCache", "LoadResult"]

LoadResult = Excerpt | tuple[Problem, ...]

VERSION = 2
# A file changed twice within the file system's timestamp resolution can keep its mtime and
# size; files modified this recently are not cached, so such a change is never missed.
_RACY_NS = 2_000_000_000

# How each field of an Excerpt is kept (id and path are the file's: not kept).
_KINDS = {
    "title": str,
    "body": str,
    **dict.fromkeys(("url", "author", "source", "book", "location", "imported_from"), str),
    "tags": list,
    "weight": int,
    "active": bool,
    **dict.fromkeys(("added", "highlighted", "published"), date),
}
_DEFAULTS = Excerpt._field_defaults


def _excerpt_entry(excerpt: Excerpt) -> dict[str, Any]:
    """An excerpt's fields by name, those at their default left out; dates as YYYY-MM-DD."""
    entry: dict[str, Any] = {}
    value: Any
    for name, value in zip(Excerpt._fields, excerpt, strict=True):
        if name not in _KINDS or (name in _DEFAULTS and value == _DEFAULTS[name]):
            continue
        if isinstance(value, date):
            value = value.isoformat()
        entry[name] = list(value) if name == "tags" else value
    return entry


def _excerpt(entry: dict[str, Any], path: Path, stem: str) -> Excerpt:
    """An Excerpt from its kept fields; TypeError/ValueError when they are not what was kept."""
    values = dict(entry)
    del values["mtime_ns"], values["size"]
    if "title" not in values or "body" not in values:
        raise ValueError("no title or body")
    for name, value in values.items():
        kind = _KINDS[name]  # KeyError: not a field
        if kind is date:
            values[name] = date.fromisoformat(value)
        elif type(value) is not kind:
            raise TypeError(name)
    if "tags" in values:
        values["tags"] = tuple(map(str, values["tags"]))
    return Excerpt(id=stem, path=path, **values)


def _problems(items: list[Any], path: Path) -> tuple[Problem, ...]:
    """The problems of a file from their cached form ({"message", "line"} each)."""
    return tuple(
        Problem(path, str(item["message"]), item["line"] if type(item["line"]) is int else None)
        for item in items
    )


class ContentCache:
    """Load results kept in one JSON file, keyed by file path and stamp (mtime, size).

    ``begin`` reads the file; ``lookup`` answers an unchanged file from it; ``store`` keeps a
    fresh result; ``finish`` rewrites the file when anything changed (and ``save`` is true),
    keeping only the files looked up or stored since ``begin``.
    """

    def __init__(self, path: Path, *, save: bool = True) -> None:
        self.path = path
        self.save = save
        self._kept: dict[str, Any] = {}
        self._fresh: dict[str, Any] = {}
        self._changed = False
        self._now_ns = 0

    def begin(self) -> None:
        """Read the cache file (none when missing, broken or of another version)."""
        self._fresh, self._changed, self._now_ns = {}, False, time.time_ns()
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            data = None
        valid = isinstance(data, dict) and data.get("version") == VERSION
        entries = data.get("entries") if valid and isinstance(data, dict) else None
        self._kept = entries if isinstance(entries, dict) else {}

    def lookup(
        self, key: str, mtime_ns: int, size: int, path: Path, stem: str
    ) -> LoadResult | None:
        """What ``key`` loaded to when its stamp is the one kept; None when it must be read."""
        entry = self._kept.get(key)
        if (
            type(entry) is not dict
            or entry.get("mtime_ns") != mtime_ns
            or entry.get("size") != size
        ):
            return None
        try:
            if "problems" in entry:
                result: LoadResult = _problems(entry["problems"], path)
            else:
                result = _excerpt(entry, path, stem)
        except (TypeError, ValueError, KeyError, AttributeError):
            return None
        self._fresh[key] = entry
        return result

    def store(self, key: str, mtime_ns: int, size: int, result: LoadResult) -> None:
        """Keep what ``key`` loaded to, unless it changed too recently to trust its stamp."""
        if self._now_ns - mtime_ns <= _RACY_NS:
            return
        if isinstance(result, Excerpt):
            entry = _excerpt_entry(result)
        else:
            entry = {"problems": [{"message": p.message, "line": p.line} for p in result]}
        self._fresh[key] = {"mtime_ns": mtime_ns, "size": size, **entry}
        self._changed = True

    def finish(self) -> None:
        """Rewrite the file (atomically; skipped where it cannot be) if anything changed."""
        if not self.save or not (self._changed or len(self._fresh) != len(self._kept)):
            return
        payload = {"version": VERSION, "entries": self._fresh}
        save_cache(
            self.path, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        )
