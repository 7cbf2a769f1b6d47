"""Text the adapters print about a planned issue and the rotation (the CLI's build, the
preview, the runner's log); `digest history` and `digest status` are in cli_report.py."""

from __future__ import annotations

from collections.abc import Iterator

from newsletter_digest.models import Selection


def issue_lines(selection: Selection) -> Iterator[str]:
    """One numbered line per picked excerpt, with its id and why it was picked: the cycle it
    counts toward, or (with sections) its section and the section's reason."""
    reasons = selection.reasons or tuple(f"cycle {p.cycle + 1}" for p in selection.picks)
    for position, (excerpt, why) in enumerate(zip(selection.excerpts, reasons, strict=True), 1):
        yield f"{position}. {excerpt.title}  [{excerpt.id}, {why}]"


def rotation_line(selection: Selection) -> str:
    """Where the rotation stands once this issue is out."""
    left = selection.cycle_size - selection.cycle_shown
    tail = f"{left} to go before any repeats" if left else "the next issue starts a new cycle"
    return (
        f"rotation: cycle {selection.cycle + 1}, {selection.cycle_shown} of "
        f"{selection.cycle_size} shown; {tail}"
    )
