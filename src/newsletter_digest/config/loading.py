"""Load digest.yaml into validated, frozen settings, reporting every problem at once.

Relative paths resolve against the config file's folder, so a project works the same from
any working directory. Validation (config_schema.py, pydantic) runs when the file is new
or changed; its result is cached in ``.digest/config-cache.json`` beside the file, keyed by
the file's bytes and place and by the schema's code, so a scheduled run that finds the
same config again starts in a fraction of the time.

No ``from __future__ import annotations`` here: the settings are NamedTuples, which compile
each string annotation at every start (see models.py).
"""

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import urlsplit

from newsletter_digest.addresses import split_mailbox
from newsletter_digest.config import yamlload
from newsletter_digest.errors import ConfigError, shorten
from newsletter_digest.files import code_fingerprint, save_cache

if TYPE_CHECKING:
    from newsletter_digest.schedule import slots as scheduler

DEFAULT_FILENAME = "digest.yaml"
ENV_VAR = "DIGEST_CONFIG"
CACHE_NAME = ".digest/config-cache.json"
_SCHEMA_MODULES = ("config.loading", "config.schema", "schedule.slots")


def no_newlines(value: str) -> str:
    """Refuse a line break in a value that ends up in a header or a single line."""
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line (no line breaks)")
    return value


def check_address(value: str) -> str:
    """Accept ``addr@domain`` or ``Name <addr@domain>``; reject anything a mail server would."""
    split_mailbox(value)
    return value


def check_base_url(value: str) -> str:
    """Accept an absolute http(s) URL with a host and no query or fragment; drop a final /."""
    no_newlines(value)
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or " " in value:
        raise ValueError(f"{shorten(value)} is not an http(s) URL like 'https://news.example.org'")
    if parts.query or parts.fragment:
        raise ValueError(
            f"{shorten(value)}: the address of the archive takes no ?query or #fragment"
        )
    return value.rstrip("/")


class SmtpSettings(NamedTuple):
    """The ``smtp`` section: where and how to send; the password comes from the environment."""

    host: str
    port: int | None
    security: Literal["starttls", "ssl", "none"]
    username: str | None
    password_env: str
    ca_file: Path | None
    timeout: float
    rate: float | None
    retries: int
    retry_delay: float

    @property
    def effective_port(self) -> int:
        """The configured port, or the usual one for the security mode."""
        if self.port is not None:
            return self.port
        return {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class ScheduleSettings(NamedTuple):
    """The ``schedule`` section: when ``digest run`` makes issues (rules in scheduler.py)."""

    every: str
    at: str
    timezone: str
    start: date
    catch_up: Literal["latest", "skip"]
    grace: timedelta

    def to_schedule(self) -> "scheduler.Schedule":
        """The schedule the slot maths works with."""
        from newsletter_digest.schedule import slots as scheduler

        try:
            return scheduler.Schedule(
                every=scheduler.parse_every(self.every),
                at=scheduler.parse_at(self.at),
                zone=scheduler.zone(self.timezone),
                start=self.start,
                catch_up=self.catch_up,
                grace=self.grace,
            )
        except ValueError as e:  # validated already; a time zone gone from the system, say
            raise ConfigError(f"schedule: {e}", "fix the schedule section of digest.yaml") from e


class ArchiveSettings(NamedTuple):
    """The ``archive`` section: the web archive and Atom feed written beside the issues."""

    feed_items: int


class Settings(NamedTuple):
    """The validated digest.yaml; paths are absolute once loaded.

    Built from validated values only (:func:`settings_from_values`), sections included, so
    no field has a default here: defaults, bounds and checks are the schema's alone.
    """

    title: str
    sender: str
    recipients: tuple[str, ...]
    recipients_file: Path | None
    per_issue: int
    subject: str
    preheader: str | None
    content: Path
    templates: Path
    outbox: Path
    state: Path
    unsubscribe: str | None
    footer: str | None
    seed: str
    smtp: SmtpSettings | None
    schedule: ScheduleSettings | None
    per_recipient: bool
    base_url: str | None
    archive: ArchiveSettings


class Config(NamedTuple):
    """Settings plus where they came from; recipients are streamed, never all held at once."""

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


def settings_from_values(values: dict[str, Any]) -> Settings:
    """Settings from validated values: the schema's output, or the same read back as JSON."""

    def path(value: Any) -> Path | None:
        return None if value is None else Path(value)

    smtp, schedule = values.get("smtp"), values.get("schedule")
    if smtp is not None:
        smtp = SmtpSettings(**smtp | {"ca_file": path(smtp.get("ca_file"))})
    if schedule is not None:
        start, grace = schedule["start"], schedule["grace"]
        schedule = ScheduleSettings(
            **schedule
            | {
                "start": start if isinstance(start, date) else date.fromisoformat(start),
                "grace": grace if isinstance(grace, timedelta) else timedelta(seconds=grace),
            }
        )
    paths = {key: path(values[key]) for key in ("content", "templates", "outbox", "state")}
    return Settings(
        **values
        | paths
        | {
            "recipients": tuple(values["recipients"]),
            "recipients_file": path(values.get("recipients_file")),
            "smtp": smtp,
            "schedule": schedule,
            "archive": ArchiveSettings(**values["archive"]),
        }
    )


def _plain(value: Any) -> Any:
    """JSON for the values json does not know: paths as text, dates ISO, durations seconds."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(f"{type(value).__name__} in settings")


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the config is: ``--config``, then ``$DIGEST_CONFIG``, then ./digest.yaml."""
    chosen = explicit or os.environ.get(ENV_VAR) or DEFAULT_FILENAME
    return Path(chosen).expanduser().absolute()


MAX_CONFIG_BYTES = 1 << 20  # a digest.yaml is a few KB; past 1 MiB it is not one


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError as e:
        raise ConfigError(
            f"no config file at {path}",
            "run digest in a folder with digest.yaml, or pass --config PATH "
            "(a minimal one needs 'title' and 'sender')",
        ) from e
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}", "check the file is readable UTF-8") from e
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path} is larger than 1 MiB, too large for a config file",
            "keep long recipient lists in a file named by recipients_file",
        )
    return raw


def _parse_yaml(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text ({e.reason})", "save the file with UTF-8 encoding"
        ) from e
    try:
        data = yamlload.load(text)
    except yamlload.YamlError as e:
        where = f"{path}:{e.line}" if e.line is not None else str(path)
        raise ConfigError(
            f"{where}: not valid YAML: {e.message}",
            "fix the YAML at that line (indentation, quotes around values with ':')",
        ) from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys (title: ..., sender: ...), "
            f"got {type(data).__name__}",
            "see the config reference (digest check lists every key)",
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


@cache
def _schema_fingerprint() -> str | None:
    """The code a validation depends on: the schema, its checks, pydantic and Python."""
    return code_fingerprint(
        [f"newsletter_digest.{name}" for name in _SCHEMA_MODULES], ["pydantic", "pydantic_core"]
    )


def _cache_key(path: Path, raw: bytes) -> str | None:
    """What a cached validation depends on: the file's bytes and place, the schema's code.

    None (no caching) when the code cannot be fingerprinted.
    """
    schema = _schema_fingerprint()
    if schema is None:
        return None
    digest = hashlib.sha256(raw)
    digest.update(str(path).encode("utf-8", "surrogateescape"))
    digest.update(schema.encode())
    return digest.hexdigest()


def settings_values(settings: Settings) -> dict[str, Any]:
    """The settings as plain values, sections included: what settings_from_values reads."""
    values = settings._asdict()
    for section in ("smtp", "schedule", "archive"):
        if values[section] is not None:
            values[section] = values[section]._asdict()
    return values


def _cached_settings(cache: Path, key: str) -> Settings | None:
    """The settings validated for ``key`` before; None when missing, stale or unreadable."""
    try:
        data = json.loads(cache.read_bytes())
        if data.get("key") != key:
            return None
        return settings_from_values(data["settings"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _validate(path: Path, raw: bytes) -> tuple[Settings | None, list[str]]:
    """Parse and validate the YAML (pydantic is imported only here), paths as written."""
    from newsletter_digest.config.schema import validate

    values, problems = validate(_parse_yaml(path, raw))
    return (None, problems) if values is None else (settings_from_values(values), [])


def _resolved(settings: Settings, base: Path) -> Settings:
    """Paths made absolute against the config's folder (``~`` is the current user's home)."""
    smtp = settings.smtp
    if smtp is not None and smtp.ca_file is not None:
        smtp = smtp._replace(ca_file=_resolve(base, smtp.ca_file))
    return settings._replace(
        content=_resolve(base, settings.content),
        templates=_resolve(base, settings.templates),
        outbox=_resolve(base, settings.outbox),
        state=_resolve(base, settings.state),
        recipients_file=(
            _resolve(base, settings.recipients_file) if settings.recipients_file else None
        ),
        smtp=smtp,
    )


def load_config(path: Path, *, save: bool = False) -> Config:
    """Read, validate and resolve a digest.yaml; raise one ConfigError listing every problem.

    A validation cached for the same bytes is reused; ``save`` stores a new one (commands
    that write nothing pass False, so they leave no ``.digest`` folder behind).
    """
    raw = _read(path)
    cache = path.parent / CACHE_NAME
    key = _cache_key(path, raw)
    settings = _cached_settings(cache, key) if key is not None else None
    problems: list[str] = []
    if settings is None:
        settings, problems = _validate(path, raw)
        if settings is not None and save and key is not None:
            entry = {"key": key, "settings": settings_values(settings)}
            save_cache(cache, json.dumps(entry, default=_plain, ensure_ascii=False).encode())
    count = 0
    if settings is not None:
        settings = _resolved(settings, path.parent)
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
