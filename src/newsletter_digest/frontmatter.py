"""Front matter of an excerpt file: find it, and read it fast where its meaning is certain.

Most excerpt files carry a few ``key: value`` lines. Those are read without PyYAML (which
costs 25-100 µs a file, too much for a folder of 10,000); anything else goes to PyYAML's
safe loader, and a property test checks that both readers always agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from newsletter_digest.models import InvalidFileError, Problem

_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)

# The fast front-matter reader accepts only lines whose YAML meaning is certain (below) and
# hands everything else to PyYAML, so both always agree (a property test checks this).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`<=.+~ ")
_BOOLS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_NULLS = frozenset(("~", "null", "Null", "NULL"))
_INT = re.compile(r"0|[1-9][0-9]*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])")
# Characters PyYAML rejects (its error message is the one to show), reads as line breaks, or
# treats specially around plain scalars (tabs).
# Listed rather than as the negation of what is allowed, which takes ~8 ms to compile.
_FAST_REJECT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """Return (front matter or None, body, 1-based line the body starts on).

    Raises ValueError when the first line is ``---`` and no closing ``---`` line follows.
    """
    if not text.startswith("---"):
        return None, text, 1
    newline = text.find("\n")
    first_line = text[3:] if newline < 0 else text[3:newline]
    if first_line.strip(" \t"):  # "----" or "--- x" is Markdown, not a front matter fence
        return None, text, 1
    closing = _FENCE.search(text, newline + 1) if newline >= 0 else None
    if closing is None:
        raise ValueError("unclosed front matter")
    front = text[newline + 1 : closing.start()]
    body_line = 3 + front.count("\n")
    return front, text[closing.end() + 1 :], body_line


_SLOW = object()  # the fast reader's "ask PyYAML" answer


def _fast_scalar(raw: str) -> Any:
    """Return the value of one stripped YAML scalar whose meaning is certain, else _SLOW."""
    first = raw[0]
    if first == '"':
        inner = raw[1:-1]
        if len(raw) < 2 or raw[-1] != '"' or '"' in inner or "\\" in inner:
            return _SLOW
        return inner
    if first == "'":
        inner = raw[1:-1]
        if len(raw) < 2 or raw[-1] != "'" or "'" in inner.replace("''", ""):
            return _SLOW
        return inner.replace("''", "'")
    if first in _INDICATORS or "#" in raw or ": " in raw or raw[-1] == ":":
        return _SLOW
    if raw in _BOOLS:
        return _BOOLS[raw]
    if raw in _NULLS:
        return None
    if first.isdigit():
        if _INT.fullmatch(raw):
            return int(raw)
        if _DATE.fullmatch(raw):
            try:
                return date.fromisoformat(raw)
            except ValueError:  # PyYAML's error for an impossible date is the one to show
                return _SLOW
        return _SLOW
    return raw


def _fast_flow_list(raw: str) -> Any:
    """Return the list for a one-line ``[a, b]`` of simple items, else _SLOW."""
    inner = raw[1:-1]
    if raw[-1] != "]" or "[" in inner or "]" in inner or "{" in inner or ":" in inner:
        return _SLOW
    if not inner.strip(" "):
        return []
    items = []
    for part in inner.split(","):
        item = part.strip(" ")
        if not item:
            return _SLOW
        value = _fast_scalar(item)
        if value is _SLOW:
            return _SLOW
        items.append(value)
    return items


def _fast_block_list(lines: list[str], start: int) -> tuple[Any, int]:
    """Return (list or None when there is none, next line) for ``- item`` lines from start.

    The answer is _SLOW for anything but equally indented items of simple scalars.
    """
    items: list[Any] = []
    indent = -1
    index = start
    while index < len(lines):
        stripped = lines[index].lstrip(" ")
        if not stripped.startswith("- "):
            break
        if indent < 0:
            indent = len(lines[index]) - len(stripped)
        elif len(lines[index]) - len(stripped) != indent:
            return _SLOW, index
        raw = stripped[2:].strip(" ")
        value = _fast_scalar(raw) if raw else _SLOW
        if value is _SLOW:
            return _SLOW, index
        items.append(value)
        index += 1
    return (items if items else None), index


def fast_front_matter(front: str) -> dict[str, Any] | None:
    """Read simple ``key: value`` front matter without PyYAML; None when it is not that simple."""
    if _FAST_REJECT.search(front):
        return None
    meta: dict[str, Any] = {}
    lines = front.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line or line[0] == "#" or line.isspace():
            continue
        key, colon, raw = line.partition(":")
        if not colon or (raw and raw[0] != " ") or not key.isidentifier():
            return None
        if key in _BOOLS or key in _NULLS:
            return None
        raw = raw.strip(" ")
        if not raw:
            value, index = _fast_block_list(lines, index)
        elif raw[0] == "[":
            value = _fast_flow_list(raw)
        else:
            value = _fast_scalar(raw)
        if value is _SLOW:
            return None
        meta[key] = value
    return meta


def _impossible_date_line(front: str) -> int:
    """Return the file line of the first YYYY-MM-DD in front matter that is no real date."""
    for number, line in enumerate(front.split("\n"), start=2):
        for match in _DATE_IN_TEXT.finditer(line):
            try:
                date.fromisoformat(match.group())
            except ValueError:
                return number
    return 2


def yaml_front_matter(front: str, path: Path) -> Mapping[Any, Any]:
    """Parse front matter with PyYAML's safe loader; problems name the line in the file.

    PyYAML is imported here, not at the top: most front matter never needs it.
    """
    import yaml

    # The C parser when PyYAML has libyaml (several times faster); both safe loaders build
    # only plain data (SafeConstructor), never Python objects.
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        meta = yaml.load(front, Loader=loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = 2 + mark.line if mark is not None else None
        detail = " ".join(str(part) for part in (e.context, e.problem) if part)
        raise InvalidFileError(
            Problem(
                path,
                f"front matter is not valid YAML ({detail}); fix it or quote the value "
                "(values with ': ' or starting with a quote, '[' or '-' need quotes)",
                line,
            )
        ) from e
    except yaml.YAMLError as e:
        raise InvalidFileError(Problem(path, f"front matter is not valid YAML ({e})", 2)) from e
    except ValueError as e:  # a date-like value that is no real date, e.g. 2024-02-30
        raise InvalidFileError(
            Problem(
                path,
                f"front matter has an impossible date ({e}); write a real date as YYYY-MM-DD",
                _impossible_date_line(front),
            )
        ) from e
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise InvalidFileError(
            Problem(
                path,
                "front matter must be 'key: value' lines (title, url, tags, ...), "
                f"not a {type(meta).__name__}",
                2,
            )
        )
    return meta
