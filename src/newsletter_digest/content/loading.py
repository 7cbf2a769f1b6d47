"""Load content/ into Excerpt objects: one Markdown file with optional YAML front matter each.

A bad file never blocks the others: it is left out and reported as a Problem naming the file,
the line and what to do. For folders of thousands of files, an optional cache (a ContentCache
passed in, keyed by file path and stamp) skips unchanged files entirely.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from newsletter_digest import urls
from newsletter_digest.addresses import CONTROLS
from newsletter_digest.content.cache import ContentCache
from newsletter_digest.errors import ContentError, shorten
from newsletter_digest.models import Excerpt, InvalidFileError, Problem

# Looked up once: getattr with a default for a missing name raises and catches internally.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


class ContentLoad(NamedTuple):
    """The excerpts that loaded, in file-name order, and the problems of files left out."""

    excerpts: tuple[Excerpt, ...]
    problems: tuple[Problem, ...]


def _type_name(value: object) -> str:
    """Name a YAML value's type the way a user writing YAML thinks of it."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


class _BadValueError(Exception):
    """A front matter value has the wrong type or form; the message says what is expected."""


def _text(key: str, value: object) -> str | None:
    """Check a text value; whitespace runs become one space and blank text means not set."""
    if type(value) is not str:
        raise _BadValueError(
            f"'{key}' must be text, not {_type_name(value)}: put the value in quotes"
        )
    return " ".join(CONTROLS.sub(" ", value).split()) or None


def _url(key: str, value: object) -> str | None:
    """Check a link: http, https or mailto only, so no javascript: link reaches an email."""
    text = _text(key, value)
    why = urls.url_problem(text) if text else None
    if why:
        raise _BadValueError(f"'url' {why}")
    return text


def _tags(key: str, value: object) -> tuple[str, ...]:
    """Check tags given as a list of text or as comma-separated text; drop blanks and repeats."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise _BadValueError(
            "'tags' must be a list of text ([a, b]) or comma-separated text (a, b), "
            f"not {_type_name(value)}"
        )
    for number, item in enumerate(items, start=1):
        if type(item) is not str:
            raise _BadValueError(
                f"'tags' must be a list of text: item {number} ({shorten(item)}) is "
                f"{_type_name(item)}; put it in quotes"
            )
    return tuple(dict.fromkeys(tag for tag in (" ".join(t.split()) for t in items) if tag))


def _weight(key: str, value: object) -> int:
    """Check a weight: a whole number of at least 1."""
    if type(value) is not int or value < 1:
        raise _BadValueError(f"'weight' must be a whole number of at least 1, not {shorten(value)}")
    return value


def _added(key: str, value: object) -> date:
    """Check the date an excerpt was added: YAML dates and YYYY-MM-DD text both work."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value.strip())
    if not isinstance(value, date):
        raise _BadValueError(f"'{key}' must be a date written YYYY-MM-DD, not {shorten(value)}")
    return value


def _active(key: str, value: object) -> bool:
    """Check the active switch: true or false."""
    if type(value) is not bool:
        raise _BadValueError(f"'active' must be true or false, not {shorten(value)}")
    return value


_CHECKS: dict[str, Callable[[str, object], object]] = {
    "title": _text,
    "url": _url,
    "author": _text,
    "source": _text,
    "tags": _tags,
    "weight": _weight,
    "added": _added,
    "active": _active,
    # Provenance, as the importers write it.
    "book": _text,
    "location": _text,
    "highlighted": _added,
    "published": _added,
    "imported_from": _text,
}
KNOWN_KEYS = tuple(_CHECKS)


def check_field(key: str, value: object) -> object:
    """A front-matter value as the loader takes it; ValueError saying why not (importers
    check what they write with the same rules the loader reads with)."""
    check = _CHECKS.get(key)
    if check is None:
        raise ValueError(f"unknown front matter key '{key}'")
    try:
        return check(key, value)
    except _BadValueError as e:
        raise ValueError(str(e)) from e


def _file_line(front: str, key: str) -> int | None:
    """Return the 1-based line in the file where key is set in the front matter, if found."""
    for number, line in enumerate(front.split("\n"), start=2):
        if line.startswith(key) and line[len(key) :].lstrip(" \t").startswith(":"):
            return number
    return None


def _fields(meta: Mapping[Any, Any], front: str, path: Path) -> dict[str, Any]:
    """Check front matter values and return them as Excerpt keyword arguments."""
    fields: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in meta.items():
        check = _CHECKS.get(key) if type(key) is str else None
        if check is None:
            problems.append(_unknown_key(key, front, path))
            continue
        if value is None:  # "key:" with no value means not set
            continue
        try:
            checked = check(key, value)
        except _BadValueError as e:
            problems.append(Problem(path, str(e), _file_line(front, key)))
            continue
        if checked is not None:
            fields[key] = checked
    if problems:
        raise InvalidFileError(*problems)
    return fields


def _unknown_key(key: object, front: str, path: Path) -> Problem:
    """Return the problem for a key Excerpt has no field for, suggesting the likely one."""
    if not isinstance(key, str):
        return Problem(path, f"front matter key {shorten(key)} must be a name like 'title'", 2)
    import difflib

    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
    advice = f"did you mean '{close[0]}'?" if close else "remove it"
    return Problem(
        path,
        f"unknown front matter key '{key}': {advice} (known: {', '.join(KNOWN_KEYS)})",
        _file_line(front, key),
    )


def _decode(data: bytes, path: Path) -> str:
    """Decode a file's bytes as UTF-8, cleaned as excerpts keep text (see clean_text)."""
    from newsletter_digest.content.teasers import clean_text  # here: only a file not cached is read

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InvalidFileError(
            Problem(
                path,
                f"not UTF-8 text: the byte at offset {e.start} (0x{data[e.start]:02x}) on line "
                f"{line} is invalid ({e.reason}); save the file with UTF-8 encoding",
                line,
            )
        ) from e
    return clean_text(text)


def _parse(data: bytes, path: Path, stem: str) -> Excerpt:
    """Turn one file's bytes into an Excerpt, or raise InvalidFileError with its problems."""
    # Here, not at the top: a build whose files are all in the cache parses none.
    from newsletter_digest.content.frontmatter import split_front_matter, yaml_front_matter

    text = _decode(data, path)
    try:
        front, body, body_line = split_front_matter(text)
    except ValueError:
        raise InvalidFileError(
            Problem(
                path,
                "front matter starts with '---' but has no closing '---' line; "
                "add one after the last 'key: value' line",
                1,
            )
        ) from None
    fields: dict[str, Any] = {}
    if front is not None and front.strip():
        meta = yaml_front_matter(front, path)
        fields = _fields(meta, front, path)
    body = body.strip()
    if not body:
        raise InvalidFileError(
            Problem(path, "no text after the front matter; write the excerpt below it", body_line)
        )
    if "title" not in fields:
        from newsletter_digest.content.teasers import first_sentence_title

        fields["title"] = first_sentence_title(body) or stem
    return Excerpt(id=stem, body=body, path=path, **fields)


# An excerpt is a teaser of a few paragraphs; a file past this is refused unread.
MAX_EXCERPT_BYTES = 256 * 1024


def _read_bytes(full_path: str, size: int) -> bytes:
    """Read a file, but no more than one byte past MAX_EXCERPT_BYTES (enough to refuse it)."""
    fd = os.open(full_path, _READ_FLAGS)
    try:
        # size is from stat (-1 when unknown); read on until EOF in case the file grew.
        limit = MAX_EXCERPT_BYTES + 1
        chunks = [os.read(fd, min(size + 1, limit) if size >= 0 else 1 << 16)]
        total = len(chunks[0])
        while chunks[-1] and total < limit:
            chunks.append(os.read(fd, min(1 << 16, limit - total)))
            total += len(chunks[-1])
    finally:
        os.close(fd)
    return b"".join(chunks)


def _load_file(full_path: str, size: int, path: Path, stem: str) -> Excerpt | tuple[Problem, ...]:
    """Read and parse one file; its problems instead when it cannot be used."""
    try:
        data = _read_bytes(full_path, size)
    except OSError as e:
        return (Problem(path, f"cannot read the file ({e.strerror or e})"),)
    if len(data) > MAX_EXCERPT_BYTES:
        return (
            Problem(
                path,
                f"the file is larger than {MAX_EXCERPT_BYTES // 1024} KiB, too large for an "
                "excerpt; keep the teaser and link to the full text with 'url'",
            ),
        )
    try:
        return _parse(data, path, stem)
    except InvalidFileError as e:
        return e.problems


def _markdown_files(folder: Path, with_stat: bool) -> list[tuple[str, str, int, int]]:
    """Return (name, full path, mtime_ns, size) of the folder's visible *.md files, by name.

    Without ``with_stat`` mtime and size are 0 and -1: the listing then costs no stat calls.
    """
    if not folder.exists():
        raise ContentError(
            f"content folder {folder} does not exist",
            hint="create it and put one .md file per excerpt in it, or import a teaser file "
            "with `digest import FILE`; check the content folder set in digest.yaml",
        )
    if not folder.is_dir():
        raise ContentError(
            f"content folder {folder} is not a folder",
            hint="point the content setting in digest.yaml at a folder of .md files",
        )
    files: list[tuple[str, str, int, int]] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name[0] == "." or not name.endswith(".md"):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    if with_stat:
                        st = entry.stat()
                        files.append((name, entry.path, st.st_mtime_ns, st.st_size))
                    else:
                        files.append((name, entry.path, 0, -1))
                except OSError:
                    continue  # vanished since listed
    except OSError as e:
        raise ContentError(
            f"cannot read content folder {folder}: {e.strerror or e}",
            hint="check that the folder is readable",
        ) from e
    files.sort()
    return files


def load_content(folder: Path, cache: ContentCache | None = None) -> ContentLoad:
    """Load every visible ``*.md`` file in folder; bad files become problems, not errors.

    With ``cache``, a file whose path and stamp (mtime, size) it kept is not read again; the
    cache then keeps what this load found (see content/cache.py).
    """
    files = _markdown_files(folder, with_stat=cache is not None)
    excerpts: list[Excerpt] = []
    problems: list[Problem] = []
    if cache is not None:
        cache.begin()
    where = os.path.join(os.path.abspath(folder), "")  # noqa: PTH100, PTH118 - str keys, once
    for name, full_path, mtime_ns, size in files:
        path = folder.joinpath(name)  # about twice as fast as folder / name
        stem = name[:-3]
        key = where + name  # the file's absolute path
        result = cache.lookup(key, mtime_ns, size, path, stem) if cache else None
        if result is None:
            result = _load_file(full_path, size, path, stem)
            if cache is not None:
                cache.store(key, mtime_ns, size, result)
        if isinstance(result, Excerpt):
            excerpts.append(result)
        else:
            problems.extend(result)
    if cache is not None:
        cache.finish()
    return ContentLoad(excerpts=tuple(excerpts), problems=tuple(problems))
