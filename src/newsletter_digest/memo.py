"""Results of pure renderings kept between runs: Markdown bodies and CSS-inlined fragments.

A build is a short process, and a scheduled one renders excerpts an earlier run rendered
already. Keeping those results means a warm build imports neither markdown-it nor
css-inline (about 60 ms of its start-up). Each entry is keyed by its input; the file as a
whole by the code that makes the results (markdown.py, styles.py and the two libraries as
installed), so another version never reuses them. Saving is skipped where the file cannot
be written; a lost or broken file is simply an empty memo.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from newsletter_digest.files import save_cache

__all__ = ["LIMIT", "load", "lookup", "remember", "save"]

# Entries kept per table: every body and fragment of a content folder of up to about a
# thousand excerpts. A bigger folder rarely shows an excerpt again soon after (rotation
# goes round all of them first), so keeping more would only make the file slower to read.
LIMIT = 1_000
_CODE = ("markdown.py", "styles.py", "memo.py")
_LIBRARIES = ("markdown_it", "css_inline")

_tables: dict[str, dict[str, Any]] = {}
_path: Path | None = None
_added = False


def lookup(table: str, key: str) -> Any | None:
    """The remembered result for ``key`` in ``table``, if any."""
    return _tables.get(table, {}).get(key)


def remember(table: str, key: str, value: Any) -> None:
    """Keep a JSON-able result for this run, and for the next ones once :func:`save` runs."""
    global _added
    _tables.setdefault(table, {})[key] = value
    _added = True


@cache
def _fingerprint() -> str:
    """What the results depend on: our rendering code and the installed libraries."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _CODE:
        digest.update((here / name).read_bytes())
    for package in _LIBRARIES:
        spec = importlib.util.find_spec(package)  # finds a package without importing it
        for folder in (spec.submodule_search_locations or []) if spec else []:
            with os.scandir(folder) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    if entry.is_file():
                        stat = entry.stat()
                        digest.update(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def load(path: Path) -> None:
    """Read the memo at ``path`` (saved there later); a missing or stale file is ignored."""
    global _path
    _path = path
    try:
        data: Any = json.loads(path.read_bytes())
        if data["key"] != _fingerprint() or not isinstance(data["tables"], dict):
            return
        tables = {str(name): dict(entries) for name, entries in data["tables"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return
    for name, entries in tables.items():
        _tables.setdefault(name, {}).update(entries)


def save() -> None:
    """Write the memo back to where :func:`load` read it, if this run added to it."""
    global _added
    if not _added or _path is None:
        return
    for name, entries in _tables.items():
        if len(entries) > LIMIT:
            _tables[name] = dict(list(entries.items())[-LIMIT:])  # the newest
    data = {"key": _fingerprint(), "tables": _tables}
    save_cache(_path, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
    _added = False
