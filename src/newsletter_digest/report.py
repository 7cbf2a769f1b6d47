"""Text the CLI prints about issues and the rotation (kept apart so commands stay thin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from newsletter_digest.config.loading import Config
from newsletter_digest.errors import StateError
from newsletter_digest.models import IssueRecord, Selection
from newsletter_digest.state.store import open_state


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


def _folder(config: Config, record: IssueRecord) -> str:
    path = config.settings.outbox / record.folder
    try:
        return f"{path.relative_to(Path.cwd())}/"
    except ValueError:
        return f"{path}/"


def history_lines(config: Config, number: int | None) -> Iterator[str]:
    """The issue list (or one issue in full) and the rotation's position."""
    from newsletter_digest.content.loading import load_content
    from newsletter_digest.content.refresh import with_source_tags
    from newsletter_digest.rotation.cycles import position
    from newsletter_digest.rotation.sections import section_standing, specs_of

    with open_state(config.settings.state, readonly=True) as state:
        records = state.issues(number)
        history = state.history()
        counts = state.delivery_counts()
        log = state.deliveries(number) if number is not None else []
    if number is not None and not records:
        raise StateError(
            f"there is no issue #{number}",
            "run 'digest history' to list the issues that were made",
        )
    if number is not None:
        record = records[0]
        yield f"Issue #{record.number}"
        yield f"  date:       {record.date.isoformat()} (built {record.created_at})"
        yield f"  subject:    {record.subject}"
        yield f"  message-id: {record.message_id}"
        yield f"  files:      {_folder(config, record)}"
        yield "  excerpts:"
        for pick, title in zip(record.picks, record.titles, strict=True):
            yield f"    - {title}  [{pick.excerpt_id}, cycle {pick.cycle + 1}]"
        if log:
            yield f"  deliveries: {_delivery_summary(counts.get(record.number, {}))}"
            for delivery in log:
                reply = f"  {delivery.last_reply}" if delivery.last_reply else ""
                yield (
                    f"    {delivery.status:<16} {delivery.recipient}"
                    f"  (attempts: {delivery.attempts}){reply}"
                )
        return
    if not records:
        yield "No issues yet: run 'digest build' to make the first one."
    for record in records:
        sent = counts.get(record.number)
        tail = f"  [{_delivery_summary(sent)}]" if sent else ""
        yield f"#{record.number:<4} {record.date.isoformat()}  {record.subject}{tail}"
        for title in record.titles:
            yield f"        - {title}"
        yield f"        {_folder(config, record)}"
    excerpts = load_content(config.settings.content).excerpts
    if config.settings.sections:  # each section's own standing, as the next issues will go
        tagged = with_source_tags(excerpts, config.settings.sources, config.base_dir)
        specs = specs_of(config.settings.sections)
        dates = [record.date for record in records]
        yield from section_standing(tagged, history, specs, config.settings.seed, dates)
        return
    cycle, shown, size = position(excerpts, history)
    left = size - shown
    yield (
        f"rotation: cycle {cycle + 1}, {shown} of {size} shown; {left} to go before any repeats"
        if left
        else f"rotation: cycle {cycle + 1} complete; the next issue starts a new cycle"
    )


def _delivery_summary(counts: dict[str, int]) -> str:
    """'3 sent, 1 failed, 2 pending' from the delivery log's counts (and ', 1 left before
    their turn' when a reader unsubscribed during the send)."""
    failed = counts.get("failed-permanent", 0)
    pending = counts.get("pending", 0) + counts.get("failed-temporary", 0)
    left = f", {counts['left']} left before their turn" if counts.get("left") else ""
    return f"{counts.get('sent', 0)} sent, {failed} failed, {pending} pending{left}"
