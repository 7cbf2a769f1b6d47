"""Issues made of sections (pure): each section draws on its own pool, in its own rotation.

An excerpt belongs to the first section whose ``from`` it matches, so the pools never
overlap and no excerpt can be in an issue twice. A rotation section keeps the rotation's
rules within its pool (everything comes round once before anything repeats, weights
honoured): its picks are recorded with the section's title and only they (and picks from
before there were sections) count in its cycles. A ``since_last_issue`` section takes
excerpts never shown that were new when they came in, each once, its ``per_issue`` a rate
and not a cut: the new ones it has no room for wait their turn, oldest first, and are named in
a warning; those it showed, and (in the same issue) those waiting, go on to the next section
they match. The first issue has no last issue: it takes the newest, and the rest is the
back catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

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
            per_issue=section.per_issue,
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
    members: Sequence[Excerpt], shown: set[str], issue_dates: Sequence[date], per_issue: int
) -> tuple[list[Excerpt], list[Excerpt]]:
    """A new-items section's excerpts for the next issue, shown newest first, and the new
    ones left waiting (none before the first issue: the rest is the back catalogue)."""
    waiting = _waiting(members, shown, issue_dates)
    section = sorted(waiting[:per_issue], key=lambda e: (e.dated or date.min, e.id), reverse=True)
    return section, waiting[per_issue:] if issue_dates else []


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


class _Drawn(NamedTuple):
    """One section's draw for the next issue: its excerpts, their picks, why each is in, the
    excerpts no later section may take, and (a new-items section) the new ones waiting."""

    excerpts: list[Excerpt]
    picks: list[Pick]
    why: list[str]
    taken: set[str]
    waiting: list[Excerpt] | None = None
    position: tuple[int, int, int] | None = None


def _draw_new(
    members: Sequence[Excerpt], spec: SectionSpec, shown: set[str], dates: Sequence[date]
) -> _Drawn:
    """A ``since_last_issue`` section: the new excerpts it has room for. Only those it shows
    are taken; the ones waiting stay for later sections of this issue."""
    section, waiting = _take_new(members, shown, dates, spec.per_issue)
    picks = [Pick(e.id, 0, spec.title) for e in section]
    why = [_why_new(e, dates) for e in section]
    return _Drawn(section, picks, why, {e.id for e in section}, waiting)


def _draw_rotation(
    members: Sequence[Excerpt],
    spec: SectionSpec,
    history: Sequence[Sequence[Pick]],
    seed: str,
) -> _Drawn:
    """A rotation section: its pool (all of it is taken) in a rotation of its own."""
    if not members:
        return _Drawn([], [], [], set())
    # Its own picks, and those made before there were sections (one rotation then):
    # switching to sections does not show the last issue's excerpts again at once.
    own = [[p for p in issue if p.section in (spec.title, "")] for issue in history]
    # The spacing counts showings in any section: a reader sees the issue, not its pools.
    selection = cycles.select(members, own, spec.per_issue, f"{seed}/{spec.title}", seen=history)
    section = list(selection.excerpts)
    why = [
        f"rotation: cycle {p.cycle + 1}, weight {e.weight}"
        for p, e in zip(selection.picks, section, strict=True)
    ]
    return _Drawn(
        section,
        [p._replace(section=spec.title) for p in selection.picks],
        why,
        {e.id for e in members},
        position=(selection.cycle, selection.cycle_shown, selection.cycle_size),
    )


@dataclass
class _Issue:
    """The next issue as its sections are drawn, one after another."""

    excerpts: Sequence[Excerpt]
    remaining: list[Excerpt]
    chosen: list[Excerpt] = field(default_factory=list)
    picks: list[Pick] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    layout: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    waits: dict[str, list[Excerpt]] = field(default_factory=dict)
    position: tuple[int, int, int] | None = None

    def add(self, spec: SectionSpec, drawn: _Drawn) -> None:
        """Take a section's draw into the issue (or leave the section out, with a warning;
        a required section that found nothing stops the issue)."""
        self.remaining = [e for e in self.remaining if e.id not in drawn.taken]
        if drawn.waiting is not None:
            self.waits[spec.title] = drawn.waiting
        if self.position is None:
            self.position = drawn.position
        if not drawn.excerpts:
            if spec.required:
                raise ContentError(
                    f"section '{spec.title}' found no excerpts for this issue",
                    "import or write excerpts its 'from' matches, or set 'required: false'",
                )
            self.warnings.append(_left_out(spec, self.excerpts))
            return
        if len(drawn.excerpts) < spec.per_issue:
            self.warnings.append(
                f"section '{spec.title}' has {len(drawn.excerpts)} of {spec.per_issue}"
            )
        self.chosen += drawn.excerpts
        self.picks += drawn.picks
        self.reasons += [f"{spec.title}: {w}" for w in drawn.why]
        self.layout.append((spec.title, len(drawn.excerpts)))

    def selection(self, specs: Sequence[SectionSpec]) -> Selection:
        """The issue drawn; ContentError when no section found anything."""
        if not self.chosen:
            raise ContentError(
                "no section found any excerpts for this issue",
                "check the sections' 'from' against the excerpts' tags and sources",
            )
        waiting = _still_waiting(self.waits, {e.id for e in self.chosen}, specs)
        cycle, cycle_shown, cycle_size = self.position or (0, 0, 0)
        return Selection(
            excerpts=tuple(self.chosen),
            picks=tuple(self.picks),
            cycle=cycle,
            cycle_shown=cycle_shown,
            cycle_size=cycle_size,
            warnings=(*self.warnings, *waiting),
            sections=tuple(self.layout),
            reasons=tuple(self.reasons),
        )


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
    shown = {pick.excerpt_id for issue in history for pick in issue}
    issue = _Issue(excerpts, [e for e in excerpts if e.active])
    for spec in specs:
        members = [e for e in issue.remaining if _matches(e, spec)]
        if spec.since_last_issue:
            issue.add(spec, _draw_new(members, spec, shown, dates))
        else:
            issue.add(spec, _draw_rotation(members, spec, history, seed))
    return issue.selection(specs)


def _still_waiting(
    waits: dict[str, list[Excerpt]], chosen: set[str], specs: Sequence[SectionSpec]
) -> list[str]:
    """A warning for each section whose new excerpts wait for later issues."""
    sizes = {spec.title: spec.per_issue for spec in specs}
    warnings = []
    for title, waiting in waits.items():
        left = [e for e in waiting if e.id not in chosen]
        if left:
            issues = -(-len(left) // sizes[title])
            warnings.append(
                f"section '{title}': {len(left)} more new excerpt{'s' if len(left) > 1 else ''}"
                f" wait{'' if len(left) > 1 else 's'} for later issues; at {sizes[title]} an "
                f"issue the last goes out in {issues} more issue{'s' if issues > 1 else ''} "
                "(raise its 'per_issue' to keep up)"
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
