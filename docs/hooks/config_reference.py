"""The configuration reference, generated from the settings model, and kept in the repository.

``docs/configuration.md`` holds the table of every ``digest.yaml`` key (key | type | default
| description) between the marker lines ``<!-- config-reference -->`` and
``<!-- /config-reference -->``, so the page reads the same on GitHub as on the built site.
The table is read from the pydantic model in this worktree's ``src/``. Sections (a field
whose type is a model) are walked with a dotted prefix: ``smtp.host``, ``schedule.every``,
``inbox.host``; lists of them with ``[]``: ``sources[].feed``, ``sections[].from.tags``.

Run as a script (``make reference``, or ``.venv/bin/python docs/hooks/config_reference.py``)
it writes the table into the page; with ``--check`` it only says whether the page is
current. As an MkDocs hook it fails the build when the committed table is stale, and a test
does the same, so the reference cannot drift from the code.

A field without a description fails too.
"""

from __future__ import annotations

import json
import sys
import typing
from datetime import date, timedelta
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

import yaml
from mkdocs.exceptions import PluginError
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

SRC = Path(__file__).resolve().parents[2] / "src"
sys.path.insert(0, str(SRC))

from newsletter_digest.config import schema  # noqa: E402
from newsletter_digest.config.durations import format_duration, span_of  # noqa: E402
from newsletter_digest.config.sample import section_model, union_members  # noqa: E402
from newsletter_digest.config.schema import Settings  # noqa: E402

MARKER = "<!-- config-reference -->"
END_MARKER = "<!-- /config-reference -->"
PAGE_PATH = Path(__file__).resolve().parents[1] / "configuration.md"
REGENERATE = "make reference (or: .venv/bin/python docs/hooks/config_reference.py)"
REQUIRED = "(required)"
SECTION_DEFAULTS = "(its keys' defaults)"
PAGE = "configuration.md"

if not Path(schema.__file__).resolve().is_relative_to(SRC):
    raise PluginError(
        f"config reference: imported {schema.__file__}, not the schema in {SRC}; "
        "another copy of newsletter_digest was imported first"
    )


def _model(annotation: Any) -> type[BaseModel] | None:
    """``annotation`` itself if it is a settings model, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _section(annotation: Any) -> type[BaseModel] | None:
    """The model of a section field (``Section`` or ``Section | None``), else None."""
    members = union_members(annotation)
    return _model(members[0]) if len(members) == 1 else None


def _nested(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model whose keys a field holds, and what joins them to the field's key: a section
    (``smtp.host``), a section or a path (``inbox.host``), a list of them (``sources[].feed``)."""
    model, listed = section_model(annotation)
    return None if model is None else (model, "[]." if listed else ".")


_NAMES: dict[Any, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "true/false",
    Path: "path",
    date: "date",
    timedelta: "duration",
}


def _type(annotation: Any) -> str:
    """A readable type: ``text``, ``list of text``, ``path``, ``one of a, b``, ``duration``."""
    members = union_members(annotation)
    if len(members) > 1:
        return " or ".join(_type(m) for m in members)
    annotation = members[0]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(v) for v in typing.get_args(annotation))
    if origin in (list, tuple, set, frozenset):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return "list of " + _type(args[0]) if args else "list"
    if origin is dict:
        return "mapping"
    if annotation in _NAMES:
        return _NAMES[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _yaml(value: Any) -> str:
    """A default as it would be written in digest.yaml."""
    if value is None:
        return "none"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, tuple | set | frozenset):
        value = list(value)
    if isinstance(value, BaseModel):
        return SECTION_DEFAULTS
    if isinstance(value, str) and value[:1].isdigit():
        # Times and numbers-as-text are quoted in digest.yaml (YAML reads 9:00 as 540).
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    text = text.removesuffix("\n").removesuffix("\n...").strip()
    if isinstance(value, str) and text[:1] in "'\"":
        return json.dumps(value, ensure_ascii=False)  # quoted as digest.yaml quotes: "..."
    return text


def _bounds(field: FieldInfo) -> str:
    """The field's bounds, as ``1–100``, ``≥ 0``, ``> 0`` or ``not empty``; empty without any."""
    found: dict[str, Any] = {}
    for item in field.metadata:
        for attr in ("ge", "gt", "le", "lt", "min_length"):
            value = getattr(item, attr, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[attr] = _yaml(value)
    parts = []
    if "ge" in found and "le" in found:
        parts.append(f"{found['ge']}–{found['le']}")
    else:
        for attr, op in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if attr in found:
                parts.append(f"{op} {found[attr]}")
    if found.get("min_length") == "1":
        parts.append("not empty")
    elif "min_length" in found:
        parts.append(f"at least {found['min_length']} long")
    return ", ".join(parts)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return REQUIRED
    if field.default_factory is not None:
        return _yaml(field.default_factory())  # type: ignore[call-arg]
    if field.default is PydanticUndefined:
        return REQUIRED
    if span_of(field.metadata) is not None and isinstance(field.default, int | float):
        return _yaml(timedelta(seconds=field.default))  # a duration kept in seconds
    return _yaml(field.default)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (``<addr@domain>`` is text, not a tag)."""
    return " ".join(text.split()).replace("|", "\\|")


def _prose(text: str) -> str:
    """A cell shown as prose: angle brackets and ampersands escaped for HTML."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _cell(escaped)


def _code(text: str) -> str:
    """Inline code that survives a table cell and backticks in the text."""
    text = _cell(text)
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    """One table row per field; a section's row is followed by its own fields' rows."""
    out = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        description = field.description or ""
        if not description.strip():
            raise PluginError(
                f"config reference: {model.__name__}.{name} ({key}) has no description; "
                "add one in config/schema.py"
            )
        section = _section(field.annotation)
        span = span_of(field.metadata)
        type_text = "section" if section else _type(field.annotation)
        if span is not None:
            type_text = f"duration, {span.bounds()}"
        elif section is None and _bounds(field):
            type_text += f", {_bounds(field)}"
        default = _default(field)
        default = default if default in (REQUIRED, SECTION_DEFAULTS) else _code(default)
        out.append(f"| {_code(key)} | {_prose(type_text)} | {default} | {_prose(description)} |")
        nested = _nested(field.annotation)
        if nested is not None:
            out.extend(rows(nested[0], prefix=key + nested[1]))
    return out


def table() -> str:
    head = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    return "\n".join(head + rows(Settings)) + "\n"


def with_table(page: str) -> str:
    """The page with the current table between its two marker lines."""
    lines = page.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == MARKER]
    ends = [i for i, line in enumerate(lines) if line.strip() == END_MARKER]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise PluginError(
            f"config reference: {PAGE} needs the lines {MARKER} and {END_MARKER}, once each, "
            "in that order"
        )
    return "".join([*lines[: starts[0] + 1], table(), *lines[ends[0] :]])


def stale(page: str) -> bool:
    """Whether the page's table differs from what the settings model gives now."""
    return with_table(page) != page


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fail the build when the committed reference no longer matches the settings model."""
    if page.file.src_uri == PAGE and stale(markdown):
        raise PluginError(f"config reference: docs/{PAGE} is stale; run {REGENERATE}")
    return markdown


def main(argv: list[str]) -> int:
    """Write the table into docs/configuration.md (``--check``: only say if it is stale)."""
    text = PAGE_PATH.read_text(encoding="utf-8")
    if "--check" in argv:
        if stale(text):
            print(f"docs/{PAGE} is stale; run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    updated = with_table(text)
    if updated != text:
        PAGE_PATH.write_text(updated, encoding="utf-8")
        print(f"docs/{PAGE}: reference updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
