"""Load digest.yaml into validated, frozen settings, reporting every problem at once.

Relative paths resolve against the config file's folder, so a project works the same from
any working directory.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from datetime import date, timedelta
from email.headerregistry import Address
from email.utils import getaddresses, parseaddr
from itertools import islice
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from newsletter_digest import scheduler
from newsletter_digest.errors import ConfigError

DEFAULT_FILENAME = "digest.yaml"
ENV_VAR = "DIGEST_CONFIG"


def _no_newlines(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line (no line breaks)")
    return value


def check_address(value: str) -> str:
    """Accept ``addr@domain`` or ``Name <addr@domain>``; reject anything a mail server would."""
    _no_newlines(value)
    _, addr = parseaddr(value)
    if not addr or "@" not in addr or len(getaddresses([value])) != 1:
        raise ValueError(f"{value!r} is not an email address like 'Name <news@example.org>'")
    local, _, domain = addr.rpartition("@")
    if not local or "." not in domain or " " in addr:
        raise ValueError(f"{value!r} is not an email address like 'Name <news@example.org>'")
    return value


def mailbox_key(address: str) -> str:
    """What makes two recipient entries one mailbox: the address, case folded."""
    return parseaddr(address)[1].casefold()


class SmtpSettings(BaseModel):
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

    @property
    def effective_port(self) -> int:
        """The configured port, or the usual one for the security mode."""
        if self.port is not None:
            return self.port
        return {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class ScheduleSettings(BaseModel):
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

    def to_schedule(self) -> scheduler.Schedule:
        """The schedule the slot maths works with."""
        return scheduler.Schedule(
            every=scheduler.parse_every(self.every),
            at=scheduler.parse_at(self.at),
            zone=scheduler.zone(self.timezone),
            start=self.start,
            catch_up=self.catch_up,
            grace=self.grace,
        )


class ArchiveSettings(BaseModel):
    """The ``archive`` section: the web archive and Atom feed written beside the issues."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feed_items: int = Field(default=20, ge=1, le=1000)


def check_base_url(value: str) -> str:
    """Accept an absolute http(s) URL with a host and no query or fragment; drop a final /."""
    _no_newlines(value)
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or " " in value:
        raise ValueError(f"{value!r} is not an http(s) URL like 'https://news.example.org'")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: the address of the archive takes no ?query or #fragment")
    return value.rstrip("/")


class Settings(BaseModel):
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
    smtp: SmtpSettings | None = None
    schedule: ScheduleSettings | None = None
    per_recipient: bool = False
    base_url: str | None = None
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)

    @field_validator("title", "subject")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return _no_newlines(value)

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
        _no_newlines(value)
        if not value.startswith(("mailto:", "https://", "http://")) or len(value) < 10:
            raise ValueError("expected a mailto: or https:// URL")
        return value

    @model_validator(mode="after")
    def _one_delivery(self) -> Settings:
        if self.per_recipient and self.smtp is not None:
            raise ValueError(
                "per_recipient and smtp exclude each other: choose the pickup folder or SMTP"
            )
        return self

    @property
    def sender_address(self) -> Address:
        """The sender as a structured address (for headers and Message-ID domains)."""
        name, addr = parseaddr(self.sender)
        local, _, domain = addr.rpartition("@")
        return Address(display_name=name, username=local, domain=domain)


class Config(BaseModel):
    """Settings plus where they came from; recipients are streamed, never all held at once."""

    model_config = ConfigDict(frozen=True)

    path: Path
    settings: Settings
    recipient_count: int = 0

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the config resolve against."""
        return self.path.parent

    def iter_recipients(self) -> Iterator[str]:
        """Every recipient: the inline list, then the recipients file, read line by line."""
        yield from self.settings.recipients
        if self.settings.recipients_file is not None:
            for entry in _file_entries(self.settings.recipients_file):
                yield entry[1]

    def first_recipients(self, count: int) -> list[str]:
        """The first ``count`` distinct recipients (enough to tell "one reader" from a list)."""
        return list(islice(dict.fromkeys(self.iter_recipients()), count))


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
    model: type[BaseModel] = Settings
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
        return f"{loc}: expected {noun} {bound} (got {error['input']!r})"
    if kind == "literal_error":
        return f"{loc}: expected {error['ctx']['expected']} (got {error['input']!r})"
    if kind == "value_error":
        return f"{loc}: {error['msg'].removeprefix('Value error, ')}"
    if kind == "string_too_short":
        return f"{loc}: must not be empty"
    message = _MESSAGES.get(kind, error["msg"])
    if kind != "missing":
        message += f" (got {error['input']!r})"
    return f"{loc}: {message}"


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the config is: ``--config``, then ``$DIGEST_CONFIG``, then ./digest.yaml."""
    chosen = explicit or os.environ.get(ENV_VAR) or DEFAULT_FILENAME
    return Path(chosen).expanduser().absolute()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(
            f"no config file at {path}",
            "run digest in a folder with digest.yaml, or pass --config PATH "
            "(a minimal one needs 'title' and 'sender')",
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}", "check the file is readable UTF-8") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(
            f"{where}: not valid YAML: {problem}",
            "fix the YAML syntax at that line (indentation, quotes around values with ':')",
        ) from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys (title: ..., sender: ...), "
            f"got {type(data).__name__}",
            "see the README's config reference",
        )
    return data


def _resolve(base: Path, value: Path) -> Path:
    return value if value.is_absolute() else (base / value.expanduser())


def _file_entries(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, entry) for each address line; blank lines and # comments are skipped."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            entry = line.strip()
            if entry and not entry.startswith("#"):
                yield number, entry


MAX_LISTED = 20


def _scan_recipients(path: Path) -> tuple[int, list[str]]:
    """Count and check the addresses in a recipients file without keeping them."""
    count = 0
    problems: list[str] = []
    try:
        for number, entry in _file_entries(path):
            try:
                check_address(entry)
                count += 1
            except ValueError as e:
                problems.append(f"recipients_file: {path}:{number}: {e}")
    except (OSError, UnicodeDecodeError) as e:
        return 0, [f"recipients_file: cannot read {path}: {e}"]
    if len(problems) > MAX_LISTED:
        problems[MAX_LISTED:] = [f"recipients_file: ... and {len(problems) - MAX_LISTED} more"]
    return count, problems


def load_config(path: Path) -> Config:
    """Read, validate and resolve a digest.yaml; raise one ConfigError listing every problem."""
    data = _read_yaml(path)
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as e:
        problems = [_describe(err) for err in e.errors()]
    count = 0
    if settings is not None:
        base = path.parent
        settings = settings.model_copy(
            update={
                key: _resolve(base, getattr(settings, key))
                for key in ("content", "templates", "outbox", "state")
            }
            | (
                {
                    "smtp": settings.smtp.model_copy(
                        update={"ca_file": _resolve(base, settings.smtp.ca_file)}
                    )
                }
                if settings.smtp is not None and settings.smtp.ca_file is not None
                else {}
            )
            | (
                {"recipients_file": _resolve(base, settings.recipients_file)}
                if settings.recipients_file
                else {}
            )
        )
        count = len(settings.recipients)
        if settings.recipients_file is not None:
            in_file, file_problems = _scan_recipients(settings.recipients_file)
            count += in_file
            problems += file_problems
    if problems or settings is None:
        listing = "\n  ".join(problems)
        raise ConfigError(
            f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the config:"
            f"\n  {listing}",
            "fix the keys above; every key is documented in the README's config reference",
        )
    return Config(path=path, settings=settings, recipient_count=count)
