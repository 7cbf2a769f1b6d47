"""Old spellings of digest.yaml keys: still read, with a warning that gives the new one.

Two kinds: a key renamed (``sections[].count`` is ``per_issue``, as at the top level;
``serve.confirm_days: 7`` is ``serve.confirm_within: 7d``), and a duration written as a bare
number in its old unit (``smtp.timeout: 30`` is ``30s``). The file's data is rewritten to
the new spelling before validation, so the settings model declares each key once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from newsletter_digest.config.durations import DAY, format_duration, span_of
from newsletter_digest.config.sample import section_model
from newsletter_digest.config.yamlload import Lines


@dataclass(frozen=True)
class Renamed:
    """A key's old name in one section, and the unit its bare number was in (if it changed
    from a number to a duration)."""

    old: str
    new: str
    old_unit: timedelta | None = None

    def value(self, old: Any) -> Any:
        """The old key's value as the new key takes it."""
        if self.old_unit is None or isinstance(old, bool) or not isinstance(old, int | float):
            return old
        if old < 0:
            return old  # validation refuses it, under the new name
        try:
            return format_duration(self.old_unit * old)
        except OverflowError:
            return old


# Section (by model name) -> its renamed keys.
RENAMED: dict[str, tuple[Renamed, ...]] = {
    "SectionSettings": (Renamed("count", "per_issue"),),
    "ServeSettings": (Renamed("confirm_days", "confirm_within", DAY),),
}


@dataclass
class Upgrade:
    """The data with the new spellings, the warnings to show, and problems (both spellings
    of one key given)."""

    path: Path
    lines: Lines
    warnings: list[str]
    problems: list[str]

    def where(self, loc: tuple[str | int, ...]) -> str:
        """``/path/digest.yaml:12``: the file, and the line when it is known."""
        line = self.lines.get(loc)
        return f"{self.path}:{line}" if line is not None else str(self.path)


def upgrade(
    root: type[BaseModel], data: dict[str, Any], path: Path, lines: Lines
) -> tuple[dict[str, Any], list[str], list[str]]:
    """``data`` with every old spelling rewritten, the deprecation warnings (each naming
    the file, line, key and its new spelling), and problems."""
    found = Upgrade(path, lines, [], [])
    return _section(root, data, (), found), found.warnings, found.problems


def _dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _section(
    model: type[BaseModel], data: dict[str, Any], loc: tuple[str | int, ...], found: Upgrade
) -> dict[str, Any]:
    """One section's keys: renamed keys moved, old durations flagged, sections walked."""
    data = _renamed(model, dict(data), loc, found)
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in data:
            continue
        span = span_of(field.metadata)
        new = span.old_spelling(data[key]) if span is not None else None
        if new is not None and span is not None:
            where = found.where((*loc, key))
            found.warnings.append(
                f"{where}: {_dotted((*loc, key))}: {data[key]} (a bare number of "
                f"{span.old_unit_name()}) is deprecated; write {key}: {new} instead"
            )
        for inner_loc, inner_model, inner in _nested(field.annotation, data[key], (*loc, key)):
            _replace(data, key, inner_loc, _section(inner_model, inner, inner_loc, found))
    return data


def _nested(
    annotation: Any, value: Any, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], type[BaseModel], dict[str, Any]]]:
    """The sections inside a field's value, with where each is."""
    model, listed = section_model(annotation)
    if model is None:
        return
    if listed and isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield (*loc, index), model, item
    elif not listed and isinstance(value, dict):
        yield loc, model, value


def _replace(
    data: dict[str, Any], key: str, loc: tuple[str | int, ...], section: dict[str, Any]
) -> None:
    """Put an upgraded section back where it was (a list item, or the key's value)."""
    if isinstance(loc[-1], int):
        items = list(data[key])
        items[loc[-1]] = section
        data[key] = items
    else:
        data[key] = section


def _renamed(
    model: type[BaseModel], data: dict[str, Any], loc: tuple[str | int, ...], found: Upgrade
) -> dict[str, Any]:
    """The section with its old key names replaced by the new ones."""
    for rename in RENAMED.get(model.__name__, ()):
        if rename.old not in data:
            continue
        old_key, new_key = _dotted((*loc, rename.old)), _dotted((*loc, rename.new))
        line = found.lines.get((*loc, rename.old))
        if rename.new in data:
            at = f"line {line}: " if line is not None else ""
            found.problems.append(
                f"{at}{old_key} and {new_key} are one setting: keep only {rename.new}"
            )
            data.pop(rename.old)
            continue
        value = rename.value(data.pop(rename.old))
        data[rename.new] = value
        if line is not None:  # a problem with the value names the line it is on
            found.lines.setdefault((*loc, rename.new), line)
        found.warnings.append(
            f"{found.where((*loc, rename.old))}: {old_key} is deprecated; "
            f"write {rename.new}: {value} instead"
        )
    return data
