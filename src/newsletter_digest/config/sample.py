"""A digest.yaml that lists every key with its default and description, from the model.

``digest init`` writes one for a new project, and the repository's bundled ``digest.yaml``
is made by it too (``python -m newsletter_digest.config.sample digest.yaml`` rewrites it
keeping its values), so neither can drift from config/schema.py. Keys given a value are
written as they are; every other key is commented out with its default, so removing the
``# `` in front of a key (and of its section's lines) sets it.
"""

from __future__ import annotations

import json
import sys
import textwrap
import types
import typing
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path, PurePath
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from newsletter_digest.config.durations import format_duration, span_of
from newsletter_digest.config.schema import Settings

WIDTH = 92
REFERENCE = "docs/configuration.md"
# Where the longer story of a section is told (paths in the project's repository).
SECTION_DOCS = {
    "sources": "docs/sources.md",
    "sections": "docs/sources.md",
    "smtp": "docs/sending.md",
    "schedule": "docs/scheduling.md",
    "archive": "docs/archive.md",
    "dkim": "docs/sending.md",
    "inbox": "docs/returns.md",
    "serve": "docs/readers.md",
    "welcome": "docs/readers.md",
}
# Values for keys that have no default, shown in their (commented-out) section.
EXAMPLES: dict[str, Any] = {
    "title": "My Newsletter",
    "sender": "My Newsletter <newsletter@example.org>",
    "smtp.host": "smtp.example.org",
    "schedule.every": "monday",
    "dkim.domain": "example.org",
    "dkim.selector": "digest",
    "dkim.key_file": "dkim.pem",
    "inbox.host": "imap.example.org",
    "inbox.user": "newsletter@example.org",
    "sources.feed": "https://example.org/feed.xml",
    "sections.title": "Reading",
}
HEADER = """\
digest.yaml: {what}.
Every key is listed here with its default and what it does. Keys commented out are optional
and at their default: remove the "# " in front of one (and of its section's lines) to set it.
Only `title` and `sender` are required. Relative paths resolve against this file's folder.
Each key's type and bounds: the documentation's Configuration page ({reference}).
'digest check' validates this file.
"""


def union_members(annotation: Any) -> list[Any]:
    """The members of a union (``X | None``), without None; else ``[annotation]``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def section_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The section model of a field, and whether the field is a list of such sections
    (also read by the configuration reference, docs/hooks/config_reference.py)."""
    for member in union_members(annotation):
        listed = typing.get_origin(member) in (tuple, list)
        inner = typing.get_args(member)[0] if listed else member
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, listed
    return None, False


def _plain(value: Any) -> Any:
    """A default or example as YAML writes it: durations as ``2d``, paths as text."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, BaseModel):
        return {k: _plain(v) for k, v in value.model_dump(by_alias=True).items()}
    return value


def _scalar(value: Any) -> str:
    """One value on one line: strings in double quotes (JSON's, which YAML reads too)."""
    value = _plain(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, WIDTH - len(indent) - 2)]


def _default(field: FieldInfo, key: str) -> Any:
    if key in EXAMPLES:
        return EXAMPLES[key]
    if field.is_required():
        raise KeyError(f"{key} is required and has no example in config/sample.py EXAMPLES")
    value = field.get_default(call_default_factory=True)
    if span_of(field.metadata) is not None and isinstance(value, int | float):
        return timedelta(seconds=value)  # a duration kept in seconds: written as '30s'
    return value


def _about(name: str, field: FieldInfo, top: bool) -> str:
    """A key's description line: what it is, whether it is required, where to read more."""
    about = field.description or ""
    if top and field.is_required():
        about += " (required)"
    if top and name in SECTION_DOCS:
        about += f" More: {SECTION_DOCS[name]}."
    return about


def _fields(
    model: type[BaseModel], values: Mapping[str, Any], indent: str, prefix: str, example: bool
) -> list[str]:
    """A model's keys, each under its description: the given values set, the others
    commented out at their default (all set in an ``example`` section, which is commented
    out as a whole)."""
    lines: list[str] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        section, listed = section_model(field.annotation)
        given = values.get(key)
        lines += _comment(_about(key, field, not prefix), indent)
        body = _value(section, listed, given, field, prefix + key, indent)
        if key not in values and not example:
            body = [f"{indent}# {line[len(indent) :]}" for line in body]
        lines += body
        if not prefix:
            lines.append("")
    return lines


def _value(
    section: type[BaseModel] | None,
    listed: bool,
    given: Any,
    field: FieldInfo,
    dotted: str,
    indent: str,
) -> list[str]:
    """``key: value``, or ``key:`` and its section's lines (its keys set or at default)."""
    key = dotted.rpartition(".")[2]
    if section is None or (given is not None and not isinstance(given, dict | list)):
        value = given if given is not None else _default(field, dotted)
        return [f"{indent}{key}: {_scalar(value)}"]
    inner = indent + "  "
    example = not given
    if not listed:
        values: dict[str, Any] = given if isinstance(given, dict) else {}
        return [f"{indent}{key}:", *_fields(section, values, inner, f"{dotted}.", example)]
    lines = [f"{indent}{key}:"]
    for entry in given or [{}]:
        body = _fields(section, entry, inner + "  ", f"{dotted}.", example)
        first = next(i for i, line in enumerate(body) if not line.lstrip().startswith("#"))
        body[first] = f"{inner}- {body[first][len(inner) + 2 :]}"
        lines += body
    return lines


def sample(values: Mapping[str, Any] | None = None, what: str = "the newsletter's settings") -> str:
    """The whole file: a header, then every key (``values`` set, the rest commented out)."""
    given = dict(values or {})
    for key in ("title", "sender"):
        given.setdefault(key, EXAMPLES[key])
    header = HEADER.format(what=what, reference=REFERENCE)
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines.append("")
    lines += _fields(Settings, given, "", "", example=False)
    return "\n".join(lines).rstrip("\n") + "\n"


BUNDLED_WHAT = "the bundled example that `make run` builds (see README.md)"


def main(argv: list[str]) -> int:
    """Rewrite the digest.yaml named in ``argv`` from the model, keeping its values."""
    path = Path(argv[0]) if argv else Path("digest.yaml")
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    path.write_text(sample(values, BUNDLED_WHAT), encoding="utf-8")
    print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
