"""The digest.yaml schema (pydantic): types, bounds and checks, every problem at once.

Imported only when a config must be validated: a config that was validated before is read
back from its cache by config.py, which keeps pydantic (a quarter of a second to import and
build) off the path of every scheduled run. config.py's dataclasses carry the same keys
(a test holds the two lists together) but no defaults: those are written here only.
"""

from __future__ import annotations

import difflib
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from newsletter_digest.config.loading import check_address, check_base_url, no_newlines
from newsletter_digest.errors import shorten
from newsletter_digest.schedule import slots as scheduler


class SmtpSchema(BaseModel):
    """The ``smtp`` section: where and how to send; the password comes from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str = "DIGEST_SMTP_PASSWORD"
    ca_file: Path | None = None
    timeout: float = Field(default=30.0, gt=0)
    rate: float | None = Field(default=None, gt=0)
    retries: int = Field(default=3, ge=0, le=20)
    retry_delay: float = Field(default=2.0, ge=0)


class ScheduleSchema(BaseModel):
    """The ``schedule`` section: when ``digest run`` makes issues (rules in scheduler.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: str
    at: str = "09:00"
    timezone: str = "UTC"
    start: date = scheduler.DEFAULT_START
    catch_up: Literal["latest", "skip"] = "latest"
    grace: timedelta = timedelta(days=2)

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        scheduler.parse_every(value)
        return value

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 9:00 as the number 540 (base 60).
            raise ValueError('write the time in quotes, like at: "09:00"')
        if isinstance(value, str):
            scheduler.parse_at(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        scheduler.zone(value)
        return value

    @field_validator("grace", mode="before")
    @classmethod
    def _grace(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = scheduler.parse_duration(value, at_most=scheduler.MAX_GRACE)
        if isinstance(value, timedelta) and value < timedelta(minutes=1):
            raise ValueError("expected at least 1m: a busy machine reaches a slot seconds late")
        return value

    @field_validator("grace")
    @classmethod
    def _grace_at_most(cls, value: timedelta) -> timedelta:
        # Also for a grace YAML gave as a float (seconds), which skips the validator above.
        if value > scheduler.MAX_GRACE:
            limit = scheduler.format_duration(scheduler.MAX_GRACE)
            raise ValueError(f"expected at most {limit} (got {scheduler.format_duration(value)})")
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: date) -> date:
        first, last = scheduler.FIRST_START, scheduler.LAST_START
        if not first <= value <= last:
            raise ValueError(f"expected a date from {first} to {last} (got {value})")
        return value


class ArchiveSchema(BaseModel):
    """The ``archive`` section: the web archive and Atom feed written beside the issues."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feed_items: int = Field(default=20, ge=1, le=1000)


class SettingsSchema(BaseModel):
    """The validated digest.yaml; paths are absolute once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    title: str = Field(min_length=1)
    sender: str
    recipients: tuple[str, ...] = ()
    recipients_file: Path | None = None
    per_issue: int = Field(default=3, ge=1, le=100)
    subject: str = "{{ title }} #{{ issue.number }}: {{ excerpts[0].title }}"
    preheader: str | None = None
    content: Path = Path("content")
    templates: Path = Path("templates")
    outbox: Path = Path("outbox")
    state: Path = Path(".digest/state.db")
    unsubscribe: str | None = None
    footer: str | None = None
    seed: str = "digest"
    smtp: SmtpSchema | None = None
    schedule: ScheduleSchema | None = None
    per_recipient: bool = False
    base_url: str | None = None
    archive: ArchiveSchema = Field(default_factory=ArchiveSchema)

    @field_validator("title", "subject")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return no_newlines(value)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_address(value)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            check_address(item)
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, value: Any) -> Any:
        # A number is a fine seed; keep it as its text so rotation hashes one type.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("unsubscribe")
    @classmethod
    def _unsubscribe(cls, value: str | None) -> str | None:
        if value is None:
            return None
        no_newlines(value)
        if not value.startswith(("mailto:", "https://", "http://")) or len(value) < 10:
            raise ValueError("expected a mailto: or https:// URL")
        return value

    @model_validator(mode="after")
    def _one_delivery(self) -> SettingsSchema:
        if self.per_recipient and self.smtp is not None:
            raise ValueError(
                "per_recipient and smtp exclude each other: choose the pickup folder or SMTP"
            )
        return self


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


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where an unknown key was found (top level or a section)."""
    model: type[BaseModel] = SettingsSchema
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


def _describe(error: Any) -> str:
    """One line per problem: ``key.path: what is wrong``."""
    loc = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        fields = _known_keys(tuple(error["loc"]))
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


def validate(data: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The validated settings as plain values (nested sections as dicts), or the problems."""
    try:
        return SettingsSchema.model_validate(data).model_dump(), []
    except ValidationError as e:
        return None, [_describe(err) for err in e.errors()]
