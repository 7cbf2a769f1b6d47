"""The real clock, read at the edges only (rotation and render never import it): the one
place that reads it. Whatever needs "now" takes one of these as a default argument, so a test
passes its own clock instead (or runs under faketime).

Local time with its UTC offset: an issue's date is the sender's calendar day, and the state
stores moments as ISO 8601 text to the second.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, in UTC (the schedule runner's clock: slot maths is done in UTC)."""
    return datetime.now(UTC)


def local_now() -> datetime:
    """Now, in local time with its UTC offset."""
    return datetime.now().astimezone()


def stamp() -> str:
    """Now as the state records it: ``2026-12-08T04:15:00+01:00``."""
    return local_now().isoformat(timespec="seconds")
