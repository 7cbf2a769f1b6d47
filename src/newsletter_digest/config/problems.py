"""Validation errors as people read them: ``line N: key.path: what is wrong``, with a
"did you mean" for an unknown key."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from newsletter_digest.errors import shorten

_MESSAGES = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "tuple_type": "expected a list",
    "path_type": "expected a path",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "model_type": "expected a section of keys",
    "model_attributes_type": "expected a section of keys",
    "literal_error": "expected one of",
}


def _known_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where an unknown key was found (top level or a section)."""
    model = root
    for part in loc[:-1]:
        annotation = (
            model.model_fields[str(part)].annotation if part in model.model_fields else None
        )
        nested = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        models = [a for a in nested if issubclass(a, BaseModel)]
        if not models:
            break
        model = models[0]
    return list(model.model_fields)


def _where(loc: tuple[Any, ...], lines: dict[tuple[str | int, ...], int]) -> str:
    """``line N: key.path``: the key's own line, or its section's for a missing key."""
    name = ".".join(str(part) for part in loc) or "(top level)"
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return f"line {line}: {name}"
    return name


def describe(root: type[BaseModel], error: Any, lines: dict[tuple[str | int, ...], int]) -> str:
    """One line per problem: ``line N: key.path: what is wrong``."""
    loc = _where(tuple(error["loc"]), lines)
    kind = error["type"]
    if kind == "extra_forbidden":
        fields = _known_keys(root, tuple(error["loc"]))
        close = difflib.get_close_matches(str(error["loc"][-1]), fields, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(fields)}"
        return f"{loc}: unknown key{hint}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than"):
        ctx = error.get("ctx", {})
        bound = next(
            f"{op} {ctx[key]}"
            for key, op in (("ge", ">="), ("le", "<="), ("gt", ">"))
            if key in ctx
        )
        noun = "a number" if any(isinstance(v, float) for v in ctx.values()) else "an integer"
        return f"{loc}: expected {noun} {bound} (got {shorten(error['input'])})"
    if kind == "literal_error":
        return f"{loc}: expected {error['ctx']['expected']} (got {shorten(error['input'])})"
    if kind == "value_error":
        return f"{loc}: {error['msg'].removeprefix('Value error, ')}"
    if kind == "string_too_short":
        return f"{loc}: must not be empty"
    message = _MESSAGES.get(kind, error["msg"])
    if kind != "missing":
        message += f" (got {shorten(error['input'])})"
    return f"{loc}: {message}"
