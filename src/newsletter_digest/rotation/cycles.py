"""Pure rotation: which excerpts the next issue holds, worked out from the picks of past issues.

Excerpts come round in cycles. In every cycle an active excerpt of weight ``w`` owes ``w``
showings, never two in one issue. Each excerpt has a cursor ``(cycle, done)``: the cycle its
next showing counts toward and how many showings of that cycle it already had. Cursors are
derived from the history alone (every :class:`Pick` records its cycle), so nothing but the
picks needs to be stored and the same inputs always give the same issue.

An issue is filled slot by slot with the excerpt that sorts first on

1. its cursor's cycle (lowest open cycle first: no repeats before a cycle is complete),
2. ``done / weight`` (a heavy excerpt's showings spread evenly through its cycle, and equal
   weights go round in strict rounds, so show counts never drift apart by more than one),
3. how much its source and tags overlap with what the issue already holds (variety),
4. a seeded hash of ``(seed, cycle, id, done)`` (the shuffle: repeatable, and stable when the
   pool changes, since adding an excerpt leaves every other excerpt's key as it was).

An excerpt that is new, or back after being inactive, joins the cycle the rotation is in;
it is not owed the showings of cycles it missed.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from newsletter_digest.errors import ContentError
from newsletter_digest.models import Excerpt, Pick, Selection
from newsletter_digest.rotation import spacing

# How an excerpt stands to its gap: free to come back, within a gap the pool is large enough
# to keep (it waits, even for a later cycle), within one it cannot keep (only preferred).
_FREE, _KEEP, _PREFER = 0, 2, 1
# Excerpts that sort alike but for their shuffle key: (within a gap to keep, cycle, gap
# standing, due, source, tags).
_Kind = tuple[bool, int, int, float, str | None, tuple[str, ...]]
# A kind in the fill heap: the kind's first four, then source clash, shared tags, its first
# excerpt's shuffle key and id, the kind's number.
_Entry = tuple[bool, int, int, float, int, int, bytes, str, int]


class _State(NamedTuple):
    """Where the rotation stands: the last issue's highest cycle, cursors, showings per cycle.

    ``cursors[i]`` is the ``(cycle, done)`` cursor of ``pool[i]``.
    """

    current: int
    cursors: list[tuple[int, int]]
    shown: dict[int, int]


def select(
    excerpts: Sequence[Excerpt],
    history: Sequence[Sequence[Pick]],
    per_issue: int,
    seed: str,
    *,
    seen: Sequence[Sequence[Pick]] | None = None,
) -> Selection:
    """The next issue's excerpts: ``per_issue`` distinct active ones, in rotation order.

    ``history`` holds the picks of every past issue, oldest first, that count in this
    rotation; ``seen`` (one entry per issue, in any section; ``history`` by default) says
    when each excerpt was last shown, for the spacing. Raises :class:`ContentError` when no
    excerpt is active.
    """
    if per_issue < 1:
        raise ValueError(f"per_issue must be at least 1, not {per_issue}")
    pool = _pool(excerpts)
    if not pool:
        raise ContentError(
            "there are no active excerpts to make an issue from",
            "add an excerpt to the content folder, or set 'active: true' in one",
        )
    weights = [max(1, excerpt.weight) for excerpt in pool]
    before = _state(pool, weights, history)
    slots = min(per_issue, len(pool))
    waiting = _waiting(pool, weights, slots, history if seen is None else seen)
    chosen = _fill(pool, weights, before.cursors, waiting, slots, seed)
    picks = tuple(Pick(pool[i].id, before.cursors[i][0]) for i in chosen)
    cycle, shown, size = _position(weights, _advance(before, weights, chosen))
    warnings: tuple[str, ...] = ()
    if len(pool) < per_issue:
        noun = "excerpt" if len(pool) == 1 else "excerpts"
        warnings = (
            f"only {len(pool)} active {noun} for per_issue: {per_issue}; "
            "this issue holds all of them",
        )
    return Selection(
        excerpts=tuple(pool[i] for i in chosen),
        picks=picks,
        cycle=cycle,
        cycle_shown=shown,
        cycle_size=size,
        warnings=warnings,
    )


def forecast(
    excerpts: Sequence[Excerpt],
    history: Sequence[Sequence[Pick]],
    per_issue: int,
    seed: str,
    count: int,
) -> list[Selection]:
    """The next ``count`` issues, each fed back as history, so a preview can look ahead."""
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    past: list[Sequence[Pick]] = list(history)
    selections: list[Selection] = []
    for _ in range(count):
        selection = select(excerpts, past, per_issue, seed)
        selections.append(selection)
        past.append(selection.picks)
    return selections


def position(
    excerpts: Sequence[Excerpt], history: Sequence[Sequence[Pick]]
) -> tuple[int, int, int]:
    """``(cycle, shown, size)`` after the last issue, as its Selection said; for ``history``."""
    pool = _pool(excerpts)
    weights = [max(1, excerpt.weight) for excerpt in pool]
    return _position(weights, _state(pool, weights, history))


def _pool(excerpts: Sequence[Excerpt]) -> list[Excerpt]:
    """The active excerpts, first of each id only, so an issue can never hold one twice.

    A weight below 1 is read as 1 by the callers: such an excerpt still rotates, never 'never'.
    """
    seen: set[str] = set()
    pool: list[Excerpt] = []
    for excerpt in excerpts:
        if excerpt.active and excerpt.id not in seen:
            seen.add(excerpt.id)
            pool.append(excerpt)
    return pool


def _state(
    pool: Sequence[Excerpt], weights: Sequence[int], history: Sequence[Sequence[Pick]]
) -> _State:
    """Every pooled excerpt's cursor, from the picks of cycles the last issue could touch.

    The last issue's lowest cycle is ``start``. An excerpt still owed by an earlier cycle
    was waiting out its gap while the others went on, at most a cycle back, so its last
    pick is recent and in ``start - 2`` or later. Any other excerpt with no pick since
    ``start`` was new or inactive and joins ``current``, the highest cycle of the last issue.
    """
    last = next((issue for issue in reversed(history) if issue), None)
    start = min(pick.cycle for pick in last) if last else 0
    current = max(pick.cycle for pick in last) if last else 0
    window = [pick for issue in history for pick in issue if pick.cycle >= start - 2]
    recent = {pick.excerpt_id for issue in history[-_recent(len(pool)) :] for pick in issue}
    shown: dict[int, int] = Counter(pick.cycle for pick in window)
    latest: dict[str, tuple[int, int]] = {}
    for (excerpt_id, cycle), count in Counter(map(_id_and_cycle, window)).items():
        seen = latest.get(excerpt_id)
        if seen is None or cycle > seen[0]:
            latest[excerpt_id] = (cycle, count)
    joining = (current, 0)
    cursors: list[tuple[int, int]] = []
    for excerpt, weight in zip(pool, weights, strict=True):
        seen = latest.get(excerpt.id)
        if seen is None or (seen[0] < start and excerpt.id not in recent):
            cursors.append(joining)
        elif seen[1] < weight:
            cursors.append(seen)
        else:
            cursors.append((seen[0] + 1, 0))
    return _State(current, cursors, dict(shown))


def _recent(size: int) -> int:
    """Issues back in which a pick still ties an excerpt to its cycle: more than the longest
    an excerpt can wait out its gap (under half the pool) and then queue to come back."""
    return 2 * size + 4


def _waiting(
    pool: Sequence[Excerpt],
    weights: Sequence[int],
    slots: int,
    seen: Sequence[Sequence[Pick]],
) -> list[int]:
    """How each pooled excerpt stands to its gap: ``_FREE``, ``_KEEP`` or ``_PREFER``."""
    gaps = spacing.gaps(weights, slots)
    since = spacing.issues_since(seen, max(gaps) - 1)
    standing: list[int] = []
    for excerpt, weight, gap in zip(pool, weights, gaps, strict=True):
        if since.get(excerpt.id, gap) >= gap:
            standing.append(_FREE)
        elif spacing.pool_for(weights, weight) >= 2 * slots:
            standing.append(_KEEP)
        else:
            standing.append(_PREFER)
    return standing


def _id_and_cycle(pick: Pick) -> tuple[str, int]:
    """A pick as a plain pair, for counting showings per excerpt and cycle."""
    return pick.excerpt_id, pick.cycle


def _advance(state: _State, weights: Sequence[int], chosen: Sequence[int]) -> _State:
    """The state once the issue holding ``pool[i] for i in chosen`` is out.

    Equal to re-deriving it from the history plus this issue (a test holds it to that), but
    without a second pass over the history.
    """
    cursors = list(state.cursors)
    shown = dict(state.shown)
    for index in chosen:
        cycle, done = cursors[index]
        shown[cycle] = shown.get(cycle, 0) + 1
        cursors[index] = (cycle, done + 1) if done + 1 < weights[index] else (cycle + 1, 0)
    current = max(state.cursors[index][0] for index in chosen)
    return _State(current, cursors, shown)


def _fill(
    pool: Sequence[Excerpt],
    weights: Sequence[int],
    cursors: Sequence[tuple[int, int]],
    waiting: Sequence[int],
    slots: int,
    seed: str,
) -> list[int]:
    """Indexes into ``pool`` of the issue's excerpts, greedily, in display order.

    Excerpts alike in cursor, source and tags are one *kind*; only each kind's first excerpt
    in shuffle order competes, so the variety check runs per kind, not per excerpt. Overlap
    only grows as the issue fills, so a heap of kinds with possibly stale overlaps works:
    an entry whose overlap is still current when popped is the true minimum.
    """
    blake2b = hashlib.blake2b
    prefixes: dict[int, str] = {}
    kinds: dict[_Kind, list[tuple[bytes, str, int]]] = {}
    for index, (excerpt, weight, (cycle, done), wait) in enumerate(
        zip(pool, weights, cursors, waiting, strict=True)
    ):
        prefix = prefixes.get(cycle)
        if prefix is None:
            prefix = prefixes[cycle] = f"{seed}\0{cycle}\0"
        # The shuffle: blake2b, not hash(), so the key is the same in every run.
        text = f"{prefix}{excerpt.id}\0{done}".encode("utf-8", "surrogatepass")
        key = blake2b(text, digest_size=16).digest()
        kind = (wait == _KEEP, cycle, wait, (done + 1) / weight, excerpt.source, excerpt.tags)
        members = kinds.get(kind)
        if members is None:
            members = kinds[kind] = []
        members.append((key, excerpt.id, index))
    table = list(kinds.items())
    heap: list[_Entry] = []
    for number, ((keep, cycle, wait, due, _, _), members) in enumerate(table):
        members.sort(reverse=True)  # the next one to show is last, for a cheap pop()
        key, ident, _ = members[-1]
        heap.append((keep, cycle, wait, due, 0, 0, key, ident, number))
    heapq.heapify(heap)
    sources: set[str] = set()
    tags: set[str] = set()
    chosen: list[int] = []
    while len(chosen) < slots:
        keep, cycle, wait, due, clash, shared, key, ident, number = heapq.heappop(heap)
        (_, _, _, _, source, kind_tags), members = table[number]
        overlap = _overlap(source, kind_tags, sources, tags)
        if overlap != (clash, shared):
            heapq.heappush(heap, (keep, cycle, wait, due, *overlap, key, ident, number))
            continue
        chosen.append(members.pop()[2])
        if source is not None:
            sources.add(source.casefold())
        tags.update(tag.casefold() for tag in kind_tags)
        if members:
            key, ident, _ = members[-1]
            overlap = _overlap(source, kind_tags, sources, tags)
            heapq.heappush(heap, (keep, cycle, wait, due, *overlap, key, ident, number))
    return chosen


def _overlap(
    source: str | None, tags: tuple[str, ...], sources: set[str], issue_tags: set[str]
) -> tuple[int, int]:
    """(same source as one already in the issue, tags shared with the issue): less is better."""
    clash = int(source is not None and source.casefold() in sources)
    shared = sum(1 for tag in tags if tag.casefold() in issue_tags) if issue_tags else 0
    return clash, shared


def _position(weights: Sequence[int], state: _State) -> tuple[int, int, int]:
    """The cycle the last issue ended in, its showings done, and the showings it holds in all."""
    cycle = state.current
    shown = state.shown.get(cycle, 0)
    owed = 0
    for weight, (at, done) in zip(weights, state.cursors, strict=True):
        if at == cycle:
            owed += weight - done
        elif at < cycle:
            owed += weight
    return cycle, shown, shown + owed
