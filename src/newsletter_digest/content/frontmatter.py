"""Front matter of an excerpt file: find the ``---`` block and read it as bounded YAML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from newsletter_digest.config import yamlload
from newsletter_digest.models import InvalidFileError, Problem

_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)
_DATE_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])")


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
    """Parse front matter with the bounded safe loader; problems name the line in the file."""
    try:
        meta = yamlload.load(front)
    except yamlload.YamlError as e:
        raise InvalidFileError(
            Problem(
                path,
                f"front matter is not valid YAML ({e.message}); fix it or quote the value "
                "(values with ': ' or starting with a quote, '[' or '-' need quotes)",
                None if e.line is None else e.line + 1,
            )
        ) from e
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
