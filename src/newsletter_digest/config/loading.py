"""Load digest.yaml: bounded YAML, validated by the settings model, paths resolved.

Relative paths resolve against the config file's folder, so a project works the same from
any working directory. Every problem is reported at once, with its key and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

from newsletter_digest.addresses import split_mailbox
from newsletter_digest.config import deprecated, yamlload
from newsletter_digest.config.schema import Settings, validate
from newsletter_digest.errors import ConfigError

DEFAULT_FILENAME = "digest.yaml"
ENV_VAR = "DIGEST_CONFIG"


class Config(NamedTuple):
    """Settings plus where they came from; recipients are streamed, never all held at once."""

    path: Path
    settings: Settings
    recipient_count: int = 0
    warnings: tuple[str, ...] = ()  # old spellings still read: each with its new spelling

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


def _parse_yaml(path: Path, raw: bytes) -> tuple[dict[str, Any], yamlload.Lines]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text ({e.reason})", "save the file with UTF-8 encoding"
        ) from e
    try:
        data, lines = yamlload.load_with_lines(text)
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
    return data, lines


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
                split_mailbox(entry)
                count += 1
            except ValueError as e:
                problems.append(f"recipients_file: {path}:{number}: {e}")
    except (OSError, UnicodeDecodeError) as e:
        return 0, [f"recipients_file: cannot read {path}: {e}"]
    if len(problems) > MAX_LISTED:
        problems[MAX_LISTED:] = [f"recipients_file: ... and {len(problems) - MAX_LISTED} more"]
    return count, problems


def _resolved(settings: Settings, base: Path) -> Settings:
    """Paths made absolute against the config's folder (``~`` is the current user's home)."""
    smtp = settings.smtp
    if smtp is not None and smtp.ca_file is not None:
        smtp = smtp.model_copy(update={"ca_file": _resolve(base, smtp.ca_file)})
    dkim = settings.dkim
    if dkim is not None:
        dkim = dkim.model_copy(update={"key_file": _resolve(base, dkim.key_file)})
    update: dict[str, Any] = {
        key: _resolve(base, getattr(settings, key))
        for key in ("content", "templates", "outbox", "state")
    }
    for key in ("recipients_file", "welcome"):
        if getattr(settings, key) is not None:
            update[key] = _resolve(base, getattr(settings, key))
    if isinstance(settings.inbox, Path):
        update["inbox"] = _resolve(base, settings.inbox)
    elif settings.inbox is not None and settings.inbox.ca_file is not None:
        ca_file = _resolve(base, settings.inbox.ca_file)
        update["inbox"] = settings.inbox.model_copy(update={"ca_file": ca_file})
    sources = tuple(
        source.model_copy(update={source.kind: _resolve(base, source.location)})
        if isinstance(source.location, Path)
        else source
        for source in settings.sources
    )
    archive = settings.archive.model_copy(
        update={"folder": _resolve(base, settings.archive.folder)}
    )
    return settings.model_copy(
        update=update | {"smtp": smtp, "dkim": dkim, "sources": sources, "archive": archive}
    )


def _public_problems(settings: Settings) -> list[str]:
    """The public archive folder must not hold the outbox or the state: publishing it would
    publish readers' messages, addresses and tokens."""
    public = Path(os.path.normpath(settings.archive.folder))
    private = {
        name: Path(os.path.normpath(folder))
        for name, folder in (("outbox", settings.outbox), ("state", settings.state.parent))
    }
    return [
        f"archive.folder: {public} holds the {name} ({folder}), which must never be published; "
        "give the archive a folder of its own (the default is 'public')"
        for name, folder in private.items()
        if folder == public or public in folder.parents
    ]


def load_config(path: Path) -> Config:
    """Read, validate and resolve a digest.yaml; raise one ConfigError listing every problem."""
    data, lines = _parse_yaml(path, _read(path))
    data, warnings, problems = deprecated.upgrade(Settings, data, path, lines)
    settings, invalid = validate(data, lines)
    problems += invalid
    count = 0
    if settings is not None:
        settings = _resolved(settings, path.parent)
        problems += _public_problems(settings)
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
            "fix the keys above; every key is in the docs' configuration reference",
        )
    return Config(path, settings, recipient_count=count, warnings=tuple(warnings))
