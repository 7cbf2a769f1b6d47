"""Issues made of sections (pure): each section draws on its own pool, in its own rotation.

An excerpt belongs to the first section whose ``from`` it matches, so the pools never
overlap and no excerpt can be in an issue twice. A rotation section keeps the rotation's
rules within its pool (everything comes round once before anything repeats, weights
honoured): its picks are recorded with the section's title and only they (and picks from
before there were sections) count in its cycles. A ``since_last_issue`` section takes
excerpts never shown and dated on or after the last issue's day, newest first, each once;
fresh ones it has no room for, and those it showed, go on to the next section they match.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from newsletter_digest.errors import ContentError
from newsletter_digest.models import Excerpt, Pick, SectionSpec, Selection
from newsletter_digest.rotation import cycles


def _matches(excerpt: Excerpt, spec: SectionSpec) -> bool:
    if spec.tags and not set(spec.tags) & set(excerpt.tags):
        return False
    return not spec.sources or (excerpt.source or "") in spec.sources


def _fresh(excerpt: Excerpt, shown: set[str], last_issue: date | None) -> bool:
    """Never shown, and dated on or after the last issue's day (one published later that
    day is new; one already shown is not, whatever its date)."""
    dated = excerpt.dated
    after = last_issue is None or (dated is not None and dated >= last_issue)
    return excerpt.id not in shown and after


def select_sections(
    excerpts: Sequence[Excerpt],
    history: Sequence[Sequence[Pick]],
    specs: Sequence[SectionSpec],
    seed: str,
    last_issue: date | None,
) -> Selection:
    """The next issue, section by section; ContentError when a required section (or every
    section) finds nothing."""
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
            members = [e for e in members if _fresh(e, shown, last_issue)]
            newest = sorted(members, key=lambda e: (e.dated or date.min, e.id), reverse=True)
            section = newest[: spec.size]
            picked = {e.id for e in section}  # fresh ones not picked stay for later sections
            remaining = [e for e in remaining if e.id not in picked]
            section_picks = [Pick(e.id, 0, spec.title) for e in section]
            why = [f"new since the last issue ({e.dated or 'undated'})" for e in section]
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
            warnings.append(f"section '{spec.title}' found no excerpts and is left out")
            continue
        if len(section) < spec.size:
            warnings.append(f"section '{spec.title}' has {len(section)} of {spec.size}")
        chosen += section
        picks += section_picks
        reasons += [f"{spec.title}: {w}" for w in why]
        layout.append((spec.title, len(section)))
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


def forecast_sections(
    excerpts: Sequence[Excerpt],
    history: Sequence[Sequence[Pick]],
    specs: Sequence[SectionSpec],
    seed: str,
    last_issue: date | None,
    count: int,
    made_on: date,
) -> list[Selection]:
    """The next ``count`` issues, each fed back as history (the preview's look ahead), as if
    each were made on ``made_on``: the one after next counts as new only what is dated on or
    after that day, as the real one will once the next issue is made."""
    past: list[Sequence[Pick]] = list(history)
    selections: list[Selection] = []
    for _ in range(count):
        selection = select_sections(excerpts, past, specs, seed, last_issue)
        selections.append(selection)
        past.append(selection.picks)
        last_issue = made_on
    return selections
