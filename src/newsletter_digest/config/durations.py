"""Durations in digest.yaml: one syntax for every key that is a length of time.

Every such key takes ``90s``, ``15m``, ``2h``, ``2d``, ``1w``, ``500ms`` or a combination
(``1h30m``), parsed by the schedule's own parser. A bare number is the old spelling of some
keys (seconds, or days for ``serve.confirm_days``): it still means what it meant, and
loading warns with the new spelling (config/deprecated.py). The :class:`Span` marker on a
field says all this once, for validation, the sample digest.yaml and the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from newsletter_digest.errors import shorten
from newsletter_digest.schedule import slots

MILLISECOND = timedelta(milliseconds=1)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
_UNIT_NAMES = {SECOND: "seconds", DAY: "days"}


def format_duration(span: timedelta) -> str:
    """``30s``, ``1h30m``, ``7d``, ``300ms``: a span as digest.yaml writes it (exact to the
    millisecond, so parsing it back gives the same span)."""
    millis = span // MILLISECOND
    whole, rest = divmod(millis, 1000)
    text = slots.format_duration(timedelta(seconds=whole)) if whole or not rest else ""
    return text + (f"{rest}ms" if rest else "")


def parse_duration(value: str, at_most: timedelta = timedelta.max) -> timedelta:
    """A duration written as digest.yaml writes one (``2d``, ``1h30m``, ``500ms``)."""
    return slots.parse_duration(value, at_most=at_most)


@dataclass(frozen=True)
class Span:
    """Marks a settings field as a duration: its bounds, and the unit a bare number was in
    (``None``: a bare number is refused). The field holds a timedelta, or seconds as a
    float where the code it feeds counts in seconds (socket timeouts, sleeps)."""

    old_unit: timedelta | None = SECOND
    at_least: timedelta = timedelta(0)
    at_most: timedelta = timedelta(days=365)
    above_zero: bool = False
    why_at_least: str = ""

    def bounds(self) -> str:
        """The bounds as the reference shows them: ``> 0, ≤ 1h``."""
        low = "> 0" if self.above_zero else f"≥ {format_duration(self.at_least)}"
        return f"{low}, ≤ {format_duration(self.at_most)}"

    def from_number(self, value: float) -> timedelta:
        """A bare number in the old unit, as the span it always meant."""
        if self.old_unit is None:
            raise ValueError(f"write a duration with its unit, like '7d' (got {shorten(value)})")
        if value < 0:
            raise ValueError(f"expected a duration like '30s' or '2d' (got {shorten(value)})")
        try:
            return self.old_unit * value
        except OverflowError:
            raise self._too_long(value) from None

    def span(self, value: Any) -> timedelta:
        """The span ``value`` stands for, within the bounds; ValueError otherwise."""
        if isinstance(value, bool) or not isinstance(value, str | int | float | timedelta):
            raise ValueError(f"expected a duration like '30s' or '2d' (got {shorten(value)})")
        if isinstance(value, str):
            span = parse_duration(value, at_most=self.at_most)
        elif isinstance(value, timedelta):
            span = value
        else:
            span = self.from_number(value)
        if span > self.at_most:
            raise self._too_long(format_duration(span))
        if span < self.at_least or (self.above_zero and not span):
            least = "more than 0s" if self.above_zero else f"at least {self._least}"
            raise ValueError(f"expected {least}{self.why_at_least} (got {shorten(value)})")
        return span

    @property
    def _least(self) -> str:
        return format_duration(self.at_least)

    def _too_long(self, value: Any) -> ValueError:
        return ValueError(
            f"expected at most {format_duration(self.at_most)} (got {shorten(value)})"
        )

    def old_spelling(self, value: Any) -> str | None:
        """The new spelling of ``value`` when it is a bare number in the old unit, else None."""
        if self.old_unit is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            span = self.span(value)
        except ValueError:
            return None  # validation reports it
        return format_duration(-(-span // MILLISECOND) * MILLISECOND)  # 0.0001 is '1ms'

    def old_unit_name(self) -> str:
        return _UNIT_NAMES.get(self.old_unit, "units") if self.old_unit else ""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """Parse before the field's own type: a timedelta, or seconds for a float field."""
        if source is float:

            def seconds(value: Any) -> float:
                span = self.span(value)  # a bare number stays exactly the number it was
                return float(value) if isinstance(value, int | float) else span.total_seconds()

            return core_schema.no_info_before_validator_function(seconds, handler(source))
        return core_schema.no_info_before_validator_function(self.span, handler(source))


def span_of(metadata: list[Any]) -> Span | None:
    """The Span marker among a field's metadata, if it is a duration."""
    return next((item for item in metadata if isinstance(item, Span)), None)
