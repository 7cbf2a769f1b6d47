"""Every digest.yaml key, declared once: type, default, bounds, checks and description.

These pydantic models are the settings the program runs with (frozen, paths resolved by
loading.py); ``digest check``, error messages and the docs' configuration reference
(generated from ``model_fields`` at docs build time) all come from them.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsletter_digest import urls
from newsletter_digest.addresses import CONTROLS, split_mailbox
from newsletter_digest.errors import ConfigError, shorten
from newsletter_digest.schedule import slots as scheduler


def _one_line(value: str) -> str:
    """Refuse a line break or control character in a value that becomes a line or header."""
    if CONTROLS.search(value):
        raise ValueError("must be a single line (no line breaks or control characters)")
    return value


def _address(value: str) -> str:
    split_mailbox(value)
    return value


class SmtpSettings(BaseModel):
    """The ``smtp`` section: where and how to send; the password comes from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="The relay's host name or address.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port; default 587 for starttls, 465 for ssl, 25 for none.",
    )
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        description="TLS after connecting (starttls), from the start (ssl), or none.",
    )
    username: str | None = Field(
        default=None, description="Login name; AUTH happens only over TLS unless security: none."
    )
    password_env: str = Field(
        default="DIGEST_SMTP_PASSWORD",
        description="Environment variable holding the password (never the file).",
    )
    ca_file: Path | None = Field(
        default=None, description="Extra CA bundle (PEM), e.g. for a relay's private certificate."
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds for connect and each command.")
    rate: float | None = Field(default=None, gt=0, description="At most this many messages/s.")
    retries: int = Field(
        default=3, ge=0, le=20, description="Tries after a 4xx reply or a dropped connection."
    )
    retry_delay: float = Field(
        default=2.0, ge=0, description="Seconds before the first retry; doubled each time."
    )
    connections: int = Field(
        default=1,
        ge=1,
        le=32,
        description="SMTP sessions sending at once; each reader is still sent one message.",
    )
    helo: str | None = Field(
        default=None,
        min_length=1,
        description="The name given in EHLO; default: this machine's fully qualified name.",
    )
    return_path: str | None = Field(
        default=None,
        description="Envelope sender (MAIL FROM), where bounces go; default: the From address.",
    )
    verp: bool = Field(
        default=False,
        description="Give each reader's message its own envelope sender, "
        "bounces+TOKEN@domain, so a bounce names who bounced (the token is opaque).",
    )

    @field_validator("return_path")
    @classmethod
    def _return_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name, address = split_mailbox(value)
        if name:
            raise ValueError("a bare address like bounces@example.org (no display name)")
        return address

    @field_validator("helo")
    @classmethod
    def _helo(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]", value):
            raise ValueError(f"{shorten(value)} is not a host name or [address literal]")
        return value

    @property
    def effective_port(self) -> int:
        """The configured port, or the usual one for the security mode."""
        if self.port is not None:
            return self.port
        return {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class ScheduleSettings(BaseModel):
    """The ``schedule`` section: when ``digest run`` makes issues (rules in slots.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: str = Field(description="How often: 'week', 'day', '2 weeks', 'monday', '12h'.")
    at: str = Field(default="09:00", description='Time of day, quoted: "09:00".')
    timezone: str = Field(default="UTC", description="IANA time zone of 'at', e.g. Europe/Berlin.")
    start: date = Field(
        default=scheduler.DEFAULT_START, description="The first day slots are counted from."
    )
    catch_up: Literal["latest", "skip"] = Field(
        default="latest",
        description="After downtime: make the latest missed issue, or skip to the next slot.",
    )
    grace: timedelta = Field(
        default=timedelta(days=2),
        description="How late a slot may still be made, as '2d', '36h' or '90m'.",
    )

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


class ArchiveSettings(BaseModel):
    """The ``archive`` section: the public web archive and Atom feed, in a folder of their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folder: Path = Field(
        default=Path("public"),
        description="The public web archive (index.html, feed.xml, each issue's web version): "
        "the folder to publish. Never the outbox, which holds private files.",
    )
    feed_items: int = Field(
        default=20, ge=1, le=1000, description="How many of the latest issues feed.xml holds."
    )


class DkimSettings(BaseModel):
    """The ``dkim`` section: sign every message (dkimpy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str = Field(
        min_length=1, description="The signing domain (d=), usually the sender's domain."
    )
    selector: str = Field(min_length=1, description="The selector (s=): NAME._domainkey.DOMAIN.")
    key_file: Path = Field(description="The PEM RSA private key (openssl genrsa 2048).")

    @field_validator("domain", "selector")
    @classmethod
    def _label(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value):
            raise ValueError(f"{shorten(value)} is not a domain name or DNS label")
        return value


class ImapSettings(BaseModel):
    """``inbox`` as an IMAP account: read over TLS with imaplib, the password from the
    environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="The IMAP server.")
    port: int = Field(default=993, ge=1, le=65535, description="IMAP over TLS (IMAPS) port.")
    user: str = Field(min_length=1, description="The account's login name.")
    password_env: str = Field(
        default="DIGEST_IMAP_PASSWORD",
        description="Environment variable holding the password (never the file).",
    )
    folder: str = Field(default="INBOX", description="The folder returned mail arrives in.")
    processed_folder: str = Field(
        default="processed", description="Where processed messages are moved (made if missing)."
    )
    ca_file: Path | None = Field(
        default=None, description="Extra CA bundle (PEM) for a server with a private certificate."
    )


SOURCE_KINDS = ("feed", "kindle", "readwise", "instapaper", "teasers", "markdown")


class SourceSettings(BaseModel):
    """One entry of ``sources``: a feed URL or an export file, refreshed before each issue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feed: str | None = Field(default=None, description="An RSS or Atom feed: URL or file.")
    kindle: Path | None = Field(default=None, description="A Kindle 'My Clippings.txt'.")
    readwise: Path | None = Field(default=None, description="A Readwise CSV export.")
    instapaper: Path | None = Field(default=None, description="An Instapaper CSV export.")
    teasers: Path | None = Field(default=None, description="A plain-text teasers file.")
    markdown: Path | None = Field(default=None, description="A Markdown file of excerpts.")
    tags: tuple[str, ...] = Field(
        default=(), description="Tags every excerpt from this source gets (for sections)."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSettings:
        given = [kind for kind in SOURCE_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(SOURCE_KINDS)} (got {len(given)})")
        if self.feed is not None and "://" in self.feed:
            urls.check_url(self.feed, ("https", "http"))
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in SOURCE_KINDS if getattr(self, kind) is not None)

    @property
    def location(self) -> str | Path:
        value: str | Path = getattr(self, self.kind)
        return value


class ImportSettings(BaseModel):
    """``imports``: what one source may cost, for `digest import` and the ``sources`` that
    build and run refresh."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_mb: float = Field(
        default=10,
        gt=0,
        le=1024,
        description="The largest source read, in MB (MiB): a file is refused unread, a "
        "download is stopped past it.",
    )
    fetch_deadline: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="Seconds one feed download may take in all (connecting, redirects and "
        "the body); a source that misses it is reported and the issue goes out without it.",
    )

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)


class SectionFrom(BaseModel):
    """A section's ``from``: which excerpts it draws on (all, without one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: tuple[str, ...] = Field(default=(), description="Excerpts with any of these tags.")
    sources: tuple[str, ...] = Field(
        default=(), description="Excerpts whose source is one of these."
    )
    since_last_issue: bool = Field(
        default=False,
        description="Only excerpts new when they came in (dated after the issue before), "
        "each once; 'count' is a rate: the rest wait their turn, oldest first.",
    )


class SectionSettings(BaseModel):
    """One section of every issue: a title, where its excerpts come from, how many."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    title: str = Field(min_length=1, description="The section's heading in the issue.")
    from_: SectionFrom = Field(
        default_factory=SectionFrom,
        alias="from",
        description="Which excerpts it draws on: tags, sources, since_last_issue.",
    )
    count: int = Field(default=1, ge=1, le=100, description="Excerpts in this section.")
    required: bool = Field(
        default=False,
        description="Fail the build when the section finds nothing (else it is left out).",
    )


class ServeSettings(BaseModel):
    """The ``serve`` section: the public side that ``digest serve`` runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscribe: bool = Field(
        default=False,
        description="Offer a subscribe form at /subscribe (double opt-in: a confirmation "
        "email, and the reader is active only once they confirm).",
    )
    requests_per_minute: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="Subscribe-form requests, and requests with a link that is not valid, one "
        "client address may make a minute (a valid one-click unsubscribe is never limited).",
    )
    confirm_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days a subscription's confirmation link works; after that the reader "
        "subscribes again for a new one.",
    )


class Settings(BaseModel):
    """The validated digest.yaml; paths are absolute once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    title: str = Field(min_length=1, description="Newsletter name: header, subject, List-Id.")
    sender: str = Field(description="From address: 'Name <addr@domain>' or 'addr@domain'.")
    recipients: tuple[str, ...] = Field(default=(), description="A list of addresses.")
    recipients_file: Path | None = Field(
        default=None,
        description="File of one address per line ('#' comments), merged with recipients.",
    )
    per_issue: int = Field(default=3, ge=1, le=100, description="Excerpts per issue.")
    sources: tuple[SourceSettings, ...] = Field(
        default=(),
        description="Feeds and exports that fill the content folder, refreshed by 'digest "
        "build' and 'digest run' before each issue (list; see 'digest sources').",
    )
    imports: ImportSettings = Field(
        default_factory=ImportSettings,
        description="Limits on what one source may cost: size and download time (section).",
    )
    sections: tuple[SectionSettings, ...] = Field(
        default=(),
        description="Issues made of titled sections (list); an excerpt belongs to the first "
        "section whose 'from' it matches. Without sections, per_issue excerpts in rotation.",
    )
    language: str = Field(
        default="en",
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
        description="The newsletter's language (BCP 47, e.g. en, de, pt-BR): the email's "
        "and the pages' lang, the feed's xml:lang.",
    )
    subject: str = Field(
        default="{{ title }} #{{ issue.number }}: {{ excerpts[0].title }}",
        description="Jinja expression with title, issue.number, issue.date, excerpts.",
    )
    preheader: str | None = Field(
        default=None, description="Inbox preview text (Jinja); default: the excerpt titles."
    )
    content: Path = Field(default=Path("content"), description="Folder of excerpt files.")
    templates: Path = Field(
        default=Path("templates"), description="Folder of template overrides (file by file)."
    )
    outbox: Path = Field(default=Path("outbox"), description="Where issues are written.")
    state: Path = Field(
        default=Path(".digest/state.db"), description="SQLite state: history, deliveries."
    )
    unsubscribe: str | None = Field(
        default=None,
        description="mailto: or https: URL for the footer and List-Unsubscribe ({email} allowed).",
    )
    footer: str | None = Field(default=None, description="Text (Markdown) under every issue.")
    welcome: Path | None = Field(
        default=None,
        description="A Markdown file sent once to each reader who confirms a subscription "
        "(its first '# ' line is the subject); with base_url, the latest issue's web link "
        "is added.",
    )
    seed: str = Field(default="digest", description="Rotation seed; change it to reshuffle.")
    smtp: SmtpSettings | None = Field(default=None, description="Send over SMTP (section).")
    schedule: ScheduleSettings | None = Field(
        default=None, description="When 'digest run' makes issues (section)."
    )
    per_recipient: bool = Field(
        default=False, description="Write each recipient's message to a pickup folder."
    )
    base_url: str | None = Field(
        default=None,
        description="http(s) address the archive folder is served at: web versions, feed links.",
    )
    archive: ArchiveSettings = Field(
        default_factory=ArchiveSettings, description="The web archive and feed (section)."
    )
    dkim: DkimSettings | None = Field(
        default=None, description="Sign every message with DKIM (section)."
    )
    feedback_id: str | None = Field(
        default=None,
        max_length=200,
        description="A Feedback-ID header for Gmail's feedback loop, e.g. 'weekly:digest:example'.",
    )
    inbox: ImapSettings | Path | None = Field(
        default=None,
        description="Where bounces, complaints and mail to the unsubscribe address arrive: "
        "a Maildir or mbox path, or an IMAP account (section); 'digest inbox' reads it, and "
        "'digest run' before each issue.",
    )
    authserv_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]{1,253}$",
        description="The name your own receiving server writes in Authentication-Results "
        "(RFC 8601); only those results are trusted for unsubscribe requests by mail. "
        "Without it, a request by mail needs the reader's unsubscribe link.",
    )
    serve: ServeSettings = Field(
        default_factory=ServeSettings,
        description="The public server: one-click unsubscribe, subscribe form (section).",
    )

    @field_validator("title", "subject", "preheader", "feedback_id")
    @classmethod
    def _single_line(cls, value: str | None) -> str | None:
        return None if value is None else _one_line(value)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _address(item)
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, value: Any) -> Any:
        # A number is a fine seed; keep it as its text so rotation hashes one type.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        urls.check_url(value, ("https", "http"))
        if "?" in value or "#" in value:
            raise ValueError(
                f"{shorten(value)}: the archive's address takes no ?query or #fragment"
            )
        return value.rstrip("/")

    @field_validator("unsubscribe")
    @classmethod
    def _unsubscribe(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # {email} is filled in per reader (URL-quoted), so check the URL with a sample.
        urls.check_url(
            value.replace("{email}", "reader%40example.org"), ("mailto", "https", "http")
        )
        return value

    @model_validator(mode="after")
    def _one_delivery(self) -> Settings:
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


def _where(loc: tuple[Any, ...], lines: dict[tuple[str | int, ...], int]) -> str:
    """``line N: key.path``: the key's own line, or its section's for a missing key."""
    name = ".".join(str(part) for part in loc) or "(top level)"
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return f"line {line}: {name}"
    return name


def _describe(error: Any, lines: dict[tuple[str | int, ...], int]) -> str:
    """One line per problem: ``line N: key.path: what is wrong``."""
    loc = _where(tuple(error["loc"]), lines)
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


def validate(
    data: dict[str, Any], lines: dict[tuple[str | int, ...], int] | None = None
) -> tuple[Settings | None, list[str]]:
    """The settings, or every problem as ``line N: key.path: what is wrong``."""
    try:
        return Settings.model_validate(data), []
    except ValidationError as e:
        return None, [_describe(err, lines or {}) for err in e.errors()]
