"""Issues made of sections (pure): each section draws on its own pool, in its own rotation.

An excerpt belongs to the first section whose ``from`` it matches, so the pools never
overlap and no excerpt can be in an issue twice. A rotation section keeps the rotation's
rules within its pool (everything comes round once before anything repeats, weights
honoured): its picks are recorded with the section's title and only they (and picks from
before there were sections) count in its cycles. A ``since_last_issue`` section takes
excerpts never shown that were new when they came in, each once, its ``count`` a rate and
not a cut: the new ones it has no room for wait their turn, oldest first, and are named in
a warning; those it showed, and (in the same issue) those waiting, go on to the next section
they match. The first issue has no last issue: it takes the newest, and the rest is the
back catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from newsletter_digest.config.schema import SectionSettings
from newsletter_digest.errors import ContentError
from newsletter_digest.models import Excerpt, Pick, SectionSpec, Selection
from newsletter_digest.rotation import cycles


def specs_of(sections: Sequence[SectionSettings]) -> list[SectionSpec]:
    """The ``sections`` setting as the rotation needs it."""
    return [
        SectionSpec(
            title=section.title,
            tags=section.from_.tags,
            sources=section.from_.sources,
            since_last_issue=section.from_.since_last_issue,
            size=section.count,
            required=section.required,
        )
        for section in sections
    ]


def _matches(excerpt: Excerpt, spec: SectionSpec) -> bool:
    if spec.tags and not set(spec.tags) & set(excerpt.tags):
        return False
    return not spec.sources or (excerpt.source or "") in spec.sources


def _new(excerpt: Excerpt, issue_dates: Sequence[date]) -> bool:
    """New when it came in: dated on or after the last issue made before the day it was
    added (the first issue's day, if none was), so one the section had no room for stays
    new. Before the first issue everything is new; with no ``added`` day, an excerpt is new
    until the next issue."""
    if not issue_dates:
        return True
    dated = excerpt.dated
    if dated is None:
        return False
    if excerpt.added is None:
        return dated >= issue_dates[-1]
    earlier = [day for day in issue_dates if day < excerpt.added]
    return dated >= (earlier[-1] if earlier else issue_dates[0])


def _waiting(
    members: Sequence[Excerpt], shown: set[str], issue_dates: Sequence[date]
) -> list[Excerpt]:
    """The new excerpts never shown, in the order they take their turn: oldest first (the
    first issue: newest first, since all of the back catalogue is 'new' to it)."""
    waiting = [e for e in members if e.id not in shown and _new(e, issue_dates)]
    waiting.sort(key=lambda e: (e.dated or date.min, e.id), reverse=not issue_dates)
    return waiting


def _take_new(
    members: Sequence[Excerpt], shown: set[str], issue_dates: Sequence[date], size: int
) -> tuple[list[Excerpt], list[Excerpt]]:
    """A new-items section's excerpts for the next issue, shown newest first, and the new
    ones left waiting (none before the first issue: the rest is the back catalogue)."""
    waiting = _waiting(members, shown, issue_dates)
    section = sorted(waiting[:size], key=lambda e: (e.dated or date.min, e.id), reverse=True)
    return section, waiting[size:] if issue_dates else []


def _left_out(spec: SectionSpec, excerpts: Sequence[Excerpt]) -> str:
    """The warning for a section that found nothing. When its ``sources`` name no excerpt's
    source at all (a feed's URL or a file's path, as ``sources:`` configures it), it says what
    they match and how to pick what a configured source brought in."""
    message = f"section '{spec.title}' found no excerpts and is left out"
    known = sorted({e.source for e in excerpts if e.source})
    if not spec.sources or set(spec.sources) & set(known):
        return message
    names = ", ".join(f"'{name}'" for name in known[:5]) + (", ..." if len(known) > 5 else "")
    return (
        f"{message}: no excerpt's source is {', '.join(spec.sources)} ('from: sources' "
        f"matches an excerpt's source, a feed's or a book's title: {names or 'none has one'});"
        " to take what a configured source brings in, give that source 'tags' and use "
        "'from: {tags: ...}'"
    )


def _why_new(excerpt: Excerpt, issue_dates: Sequence[date]) -> str:
    """Why a new excerpt is in: new since the last issue, or its turn after waiting."""
    dated = excerpt.dated
    if not issue_dates or (dated is not None and dated >= issue_dates[-1]):
        return f"new since the last issue ({dated or 'undated'})"
    return f"new ({dated}), its turn after waiting"


def _dates(last_issue: date | None, issue_dates: Sequence[date] | None) -> list[date]:
    """The days issues were made on, in order (only the last one's, if that is all known)."""
    if issue_dates is not None:
        return sorted(issue_dates)
    return [last_issue] if last_issue is not None else []


def select_sections(
    excerpts: Sequence[Excerpt],
    history: Sequence[Sequence[Pick]],
    specs: Sequence[SectionSpec],
    seed: str,
    last_issue: date | None,
    issue_dates: Sequence[date] | None = None,
) -> Selection:
    """The next issue, section by section; ContentError when a required section (or every
    section) finds nothing. ``issue_dates``: the days of all issues made (else only the
    last one's is known)."""
    dates = _dates(last_issue, issue_dates)
    waits: dict[str, list[Excerpt]] = {}
    remaining = [e for e in excerpts if e.active]
    shown = {pick.excerpt_id for issue in history for pick in issue}
    chosen: list[Excerpt] = []
    picks: list[Pick] = []
    reasons: list[str] = []
    layout: list[tuple[str, int]] = []
    warnings: list[str] = []
    position: tuple[int, int, int] | None = None
    for spec in specs:
        members = [e for e in remaining if _matches(e, spec)]
        if spec.since_last_issue:
            section, waits[spec.title] = _take_new(members, shown, dates, spec.size)
            picked = {e.id for e in section}  # waiting ones not picked stay for later sections
            remaining = [e for e in remaining if e.id not in picked]
            section_picks = [Pick(e.id, 0, spec.title) for e in section]
            why = [_why_new(e, dates) for e in section]
        elif members:
            taken = {e.id for e in members}
            remaining = [e for e in remaining if e.id not in taken]
            # Its own picks, and those made before there were sections (one rotation then):
            # switching to sections does not show the last issue's excerpts again at once.
            own = [[p for p in issue if p.section in (spec.title, "")] for issue in history]
            # The spacing counts showings in any section: a reader sees the issue, not its pools.
            selection = cycles.select(members, own, spec.size, f"{seed}/{spec.title}", seen=history)
            section = list(selection.excerpts)
            section_picks = [p._replace(section=spec.title) for p in selection.picks]
            why = [
                f"rotation: cycle {p.cycle + 1}, weight {e.weight}"
                for p, e in zip(selection.picks, section, strict=True)
            ]
            if position is None:
                position = (selection.cycle, selection.cycle_shown, selection.cycle_size)
        else:
            section, section_picks, why = [], [], []
        if not section:
            if spec.required:
                raise ContentError(
                    f"section '{spec.title}' found no excerpts for this issue",
                    "import or write excerpts its 'from' matches, or set 'required: false'",
                )
            warnings.append(_left_out(spec, excerpts))
            continue
        if len(section) < spec.size:
            warnings.append(f"section '{spec.title}' has {len(section)} of {spec.size}")
        chosen += section
        picks += section_picks
        reasons += [f"{spec.title}: {w}" for w in why]
        layout.append((spec.title, len(section)))
    warnings += _still_waiting(waits, {e.id for e in chosen}, specs)
    if not chosen:
        raise ContentError(
            "no section found any excerpts for this issue",
            "check the sections' 'from' against the excerpts' tags and sources",
        )
    cycle, cycle_shown, cycle_size = position or (0, 0, 0)
    return Selection(
        excerpts=tuple(chosen),
        picks=tuple(picks),
        cycle=cycle,
        cycle_shown=cycle_shown,
        cycle_size=cycle_size,
        warnings=tuple(warnings),
        sections=tuple(layout),
        reasons=tuple(reasons),
    )


def _still_waiting(
    waits: dict[str, list[Excerpt]], chosen: set[str], specs: Sequence[SectionSpec]
) -> list[str]:
    """A warning for each section whose new excerpts wait for later issues."""
    sizes = {spec.title: spec.size for spec in specs}
    warnings = []
    for title, waiting in waits.items():
        left = [e for e in waiting if e.id not in chosen]
        if left:
            issues = -(-len(left) // sizes[title])
            warnings.append(
                f"section '{title}': {len(left)} more new excerpt{'s' if len(left) > 1 else ''}"
                f" wait{'' if len(left) > 1 else 's'} for later issues; at {sizes[title]} an "
                f"issue the last goes out in {issues} more issue{'s' if issues > 1 else ''} "
                "(raise its 'count' to keep up)"
            )
    return warnings


def forecast_sections(
    excerpts: Sequence[Excerpt],
    history: Sequence[Sequence[Pick]],
    specs: Sequence[SectionSpec],
    seed: str,
    last_issue: date | None,
    count: int,
    made_on: date,
    issue_dates: Sequence[date] | None = None,
) -> list[Selection]:
    """The next ``count`` issues, each fed back as history (the preview's look ahead), as if
    each were made on ``made_on``: the one after next counts as new what the real one will
    once the next issue is made that day."""
    past: list[Sequence[Pick]] = list(history)
    dates = _dates(last_issue, issue_dates)
    selections: list[Selection] = []
    for _ in range(count):
        selection = select_sections(excerpts, past, specs, seed, None, dates)
        selections.append(selection)
        past.append(selection.picks)
        dates = [*dates, made_on]
    return selections


def section_standing(
    excerpts: Sequence[Excerpt],
    history: Sequence[Sequence[Pick]],
    specs: Sequence[SectionSpec],
    seed: str,
    issue_dates: Sequence[date],
) -> list[str]:
    """Where each section stands after the last issue, as the next issues will really go:
    a rotation section's cycle within its own pool, a new-items section's excerpts still
    waiting, and the excerpts no section will ever show (for ``digest history``)."""
    try:
        picks = select_sections(excerpts, history, specs, seed, None, issue_dates).picks
    except ContentError:
        picks = ()
    picked = {pick.excerpt_id: pick.section for pick in picks}
    shown = {pick.excerpt_id for issue in history for pick in issue}
    remaining = [e for e in excerpts if e.active]
    reachable: set[str] = set()
    lines: list[str] = []
    for spec in specs:
        members = [e for e in remaining if _matches(e, spec)]
        if spec.since_last_issue:
            waiting = _waiting(members, shown, sorted(issue_dates)) if issue_dates else []
            reachable |= {e.id for e in waiting}
            remaining = [e for e in remaining if picked.get(e.id) != spec.title]
            count = sum(1 for e in members if picked.get(e.id) == spec.title)
            lines.append(
                f"section '{spec.title}': {len(waiting)} new waiting, the next issue shows {count}"
                if issue_dates
                else f"section '{spec.title}': the first issue shows the newest {count}"
            )
            continue
        pool = {e.id for e in members}
        reachable |= pool
        remaining = [e for e in remaining if e.id not in pool]
        own = [[p for p in issue if p.section in (spec.title, "")] for issue in history]
        cycle, done, size = cycles.position(members, own)
        left = f"{size - done} to go before any repeats" if size > done else "cycle complete"
        lines.append(f"section '{spec.title}': cycle {cycle + 1}, {done} of {size} shown; {left}")
    never = sum(1 for e in excerpts if e.active and e.id not in reachable | shown)
    if never and issue_dates:
        lines.append(
            f"{never} excerpt{'s' if never > 1 else ''} in no section's pool (not new, and in "
            "no rotation section's 'from'): never shown"
        )
    return lines
