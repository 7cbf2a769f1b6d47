"""Results of pure renderings kept between runs: Markdown bodies and CSS-inlined fragments.

A build is a short process, and a scheduled one renders excerpts an earlier run rendered
already. Keeping those results means a warm build imports neither markdown-it nor
css-inline (about 60 ms of its start-up). Each entry is keyed by its input; the file as a
whole by the code that makes the results (markdown.py, styles.py and the two libraries as
installed), so another version never reuses them. Saving is skipped where the file cannot
be written; a lost or broken file is simply an empty memo.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from newsletter_digest.files import code_fingerprint, save_cache

__all__ = ["LIMIT", "load", "lookup", "remember", "save"]

# Entries kept per table: every body and fragment of a content folder of up to about a
# thousand excerpts. A bigger folder rarely shows an excerpt again soon after (rotation
# goes round all of them first), so keeping more would only make the file slower to read.
LIMIT = 1_000
_CODE = ("newsletter_digest.markdown", "newsletter_digest.styles", "newsletter_digest.memo")
_LIBRARIES = ("markdown_it", "mdurl", "css_inline")

_tables: dict[str, dict[str, Any]] = {}
_path: Path | None = None
_added = False


def lookup(table: str, key: str) -> Any | None:
    """The remembered result for ``key`` in ``table``, if any."""
    return _tables.get(table, {}).get(key)


def remember(table: str, key: str, value: Any) -> None:
    """Keep a JSON-able result for the next runs, once :func:`save` runs.

    Only where :func:`load` named a file: elsewhere (the preview, say) the callers' own
    in-process caches are enough, and the memo would only grow.
    """
    global _added
    if _path is None:
        return
    _tables.setdefault(table, {})[key] = value
    _added = True


@cache
def _fingerprint() -> str | None:
    """What the results depend on: our rendering code, the libraries, Python (None: unknown)."""
    return code_fingerprint(_CODE, _LIBRARIES)


def load(path: Path) -> None:
    """Read the memo at ``path`` (saved there later); a missing or stale file is ignored."""
    global _path
    key = _fingerprint()
    if key is None:
        return  # the code cannot be told apart from another version's: keep no memo
    _path = path
    try:
        data: Any = json.loads(path.read_bytes())
        if data["key"] != key or not isinstance(data["tables"], dict):
            return
        tables = {str(name): dict(entries) for name, entries in data["tables"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return
    for name, entries in tables.items():
        _tables.setdefault(name, {}).update(entries)


def save() -> None:
    """Write the memo back to where :func:`load` read it, if this run added to it.

    Never fails: a memo that cannot be written is simply not there next time.
    """
    global _added
    if not _added or _path is None:
        return
    for name, entries in _tables.items():
        if len(entries) > LIMIT:
            _tables[name] = dict(list(entries.items())[-LIMIT:])  # the newest
    data = {"key": _fingerprint(), "tables": _tables}
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError):  # text that is not Unicode (a lone surrogate, say)
        return
    save_cache(_path, text)
    _added = False
