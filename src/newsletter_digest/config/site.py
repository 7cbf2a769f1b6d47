"""When and where issues appear: ``schedule``, the public ``archive`` and what ``serve``
offers (each key declared once; Settings in schema.py holds them)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newsletter_digest.config.durations import Span
from newsletter_digest.errors import ConfigError
from newsletter_digest.schedule import slots as scheduler

GRACE = Span(
    at_least=timedelta(minutes=1),
    at_most=scheduler.MAX_GRACE,
    why_at_least=": a busy machine reaches a slot seconds late",
)


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
    grace: Annotated[timedelta, GRACE] = Field(
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


# Was ``confirm_days`` (a number of days); config/deprecated.py reads the old key.
CONFIRM_WITHIN = Span(old_unit=None, at_least=timedelta(hours=1), at_most=timedelta(days=365))


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
    confirm_within: Annotated[timedelta, CONFIRM_WITHIN] = Field(
        default=timedelta(days=7),
        description="How long a subscription's confirmation link works ('7d'); after that "
        "the reader subscribes again for a new one.",
    )
