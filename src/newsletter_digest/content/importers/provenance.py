"""Where an excerpt came from: the file or URL its ``imported_from`` names.

An import and a source of the same file are one thing: both write ``kind:location``, the
location being a URL, or a file's path from the project folder (or from ``~``, or else from
the root), so a source added later finds what a one-off import brought in. Imports from
before this naming wrote the format alone (``kindle``) or, for a feed file, its bare name
(``feed:feed.xml``); a source adopts such an excerpt when its own file holds the same text
(see :func:`adopts`), and the excerpt is then named after the source.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from newsletter_digest.files import atomic_write

_ORIGIN_LINE = re.compile(r"^imported_from:[^\r\n]*", re.M)


def is_url(source: str) -> bool:
    """True for an http(s) URL, which is fetched rather than opened."""
    return source.lower().startswith(("http://", "https://"))


def provenance(kind: str, location: str | Path, base_dir: Path) -> str:
    """``kind:location`` for a file or URL: the name an import and a source of it share.

    A file is named by its path from ``base_dir`` (the project folder) or else from ``~``,
    its folders' symbolic links followed and not the file's own (a clippings file linked
    from the device keeps its name), so the name stays the same however the config is
    reached and wherever the project is moved.
    """
    if isinstance(location, str) and is_url(location):
        where = location
    else:
        given = base_dir / Path(location).expanduser()
        path = Path(os.path.realpath(given.parent)) / given.name
        where = path.as_posix()
        for root, prefix in ((Path(os.path.realpath(base_dir)), ""), (Path.home().resolve(), "~/")):
            if path.is_relative_to(root):
                where = prefix + path.relative_to(root).as_posix()
                break
    return " ".join(f"{kind}:{where}".split())  # as the loader reads it back


def location_of(imported_from: str | None) -> str | None:
    """The file or URL an ``imported_from`` names; None for a bare format (``kindle``), as
    imports wrote before they named their file."""
    _kind, colon, where = (imported_from or "").partition(":")
    return where if colon and where else None


def adopts(origin: str | None, key: str) -> bool:
    """True when an excerpt imported as ``origin`` (text the source ``key`` also holds) is
    the source's: already named after it, or named the old way by its format alone, or (a
    feed file) by the file's bare name, of the same kind. A file of the user's own (no
    origin) and one another file or URL brought in stay as they are."""
    if not origin:
        return False
    where = location_of(origin)
    mine = location_of(key)
    if where == mine:
        return True
    if origin.partition(":")[0] != key.partition(":")[0] or mine is None:
        return False
    return where is None or ("/" not in where and mine.rsplit("/", 1)[-1] == where)


def adopt(path: Path, key: str) -> bool:
    """Name the excerpt at ``path`` after the source ``key``: its ``imported_from`` line is
    rewritten in place, the rest of the file (comments included) as it was. False, and the
    file untouched, when it has no such line or cannot be written."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    end = text.find("\n---", 3) if text.startswith("---") else -1
    match = _ORIGIN_LINE.search(text, 0, end) if end > 0 else None
    if match is None:
        return False
    line = yaml.safe_dump({"imported_from": key}, allow_unicode=True, width=10**6).rstrip("\n")
    target = path.resolve()
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        data = text[: match.start()] + line + text[match.end() :]
        atomic_write(target, data.encode("utf-8"), mode=mode)
    except OSError:
        return False
    return True
