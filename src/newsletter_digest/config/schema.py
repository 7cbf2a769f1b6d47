"""Every digest.yaml key, declared once: type, default, bounds, checks and description.

These pydantic models are the settings the program runs with (frozen, paths resolved by
loading.py); ``digest check``, error messages and the docs' configuration reference
(generated from ``model_fields`` at docs build time) all come from them. The sections live
by job in delivery.py (smtp, dkim, inbox), sources.py (sources, imports, sections) and
site.py (schedule, archive, serve); this module holds the top level and re-exports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsletter_digest import urls
from newsletter_digest.config.defaults import DEFAULT_SUBJECT
from newsletter_digest.config.delivery import (
    DkimSettings,
    ImapSettings,
    SmtpSettings,
    address,
    one_line,
)
from newsletter_digest.config.problems import describe
from newsletter_digest.config.site import ArchiveSettings, ScheduleSettings, ServeSettings
from newsletter_digest.config.sources import (
    SOURCE_KINDS,
    ImportSettings,
    SectionFrom,
    SectionSettings,
    SourceSettings,
)
from newsletter_digest.errors import shorten

__all__ = [
    "DEFAULT_SUBJECT",
    "SOURCE_KINDS",
    "ArchiveSettings",
    "DkimSettings",
    "ImapSettings",
    "ImportSettings",
    "ScheduleSettings",
    "SectionFrom",
    "SectionSettings",
    "ServeSettings",
    "Settings",
    "SmtpSettings",
    "SourceSettings",
    "validate",
]


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
        default=DEFAULT_SUBJECT,
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
        return None if value is None else one_line(value)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return address(value)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            address(item)
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


def validate(
    data: dict[str, Any], lines: dict[tuple[str | int, ...], int] | None = None
) -> tuple[Settings | None, list[str]]:
    """The settings, or every problem as ``line N: key.path: what is wrong``."""
    try:
        return Settings.model_validate(data), []
    except ValidationError as e:
        return None, [describe(Settings, err, lines or {}) for err in e.errors()]
