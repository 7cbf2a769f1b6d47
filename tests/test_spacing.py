"""Spacing: no excerpt back within max(2, pool / (2 * count)) issues of its last showing.

The oracle simulates many issues with random pools, counts, weights, sources and tags, with
excerpts added, removed and switched off and on between issues, and checks the issue's rule
on what readers see, alongside the rotation's own promise (every excerpt its weight's worth
of showings in every cycle, none skipped, none twice in one issue).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path

from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter_digest.models import Excerpt, Pick, SectionSpec
from newsletter_digest.rotation.cycles import forecast, select
from newsletter_digest.rotation.sections import select_sections
from test_cli import picked
from test_rotation import SOURCES, TAGS, ex, ids, plain, run

Digest = Callable[..., Result]


def gap(pool: Sequence[Excerpt], count: int, weight: int) -> int | None:
    """The rule: how many issues an excerpt of ``weight`` stays away, or None when the pool
    is too small to promise it (fewer than twice the issue's count).

    A heavy excerpt is due more often, so its pool is the cycle's showings over its weight
    when that is fewer than the excerpts; with equal weights that is the number of excerpts.
    """
    slots = min(count, len(pool))
    size = min(len(pool), sum(e.weight for e in pool) // weight)
    if size < 2 * slots:
        return None
    return max(2, size // (2 * slots))


def closest_repeat(history: Sequence[Sequence[Pick]]) -> int:
    """The fewest issues between two showings of one excerpt."""
    last: dict[str, int] = {}
    closest = len(history) + 1
    for number, issue in enumerate(history):
        for excerpt_id in ids(issue):
            if excerpt_id in last:
                closest = min(closest, number - last[excerpt_id])
            last[excerpt_id] = number
    return closest


def assert_spaced(
    history: Sequence[Sequence[Pick]], pools: Sequence[Sequence[Excerpt]], count: int
) -> None:
    """Each issue's excerpts kept the gap their issue's pool promised."""
    for number, (issue, pool) in enumerate(zip(history, pools, strict=True)):
        weight = {e.id: e.weight for e in pool}
        for excerpt_id in ids(issue):
            away = gap(pool, count, weight[excerpt_id])
            if away is None:
                continue
            before = history[max(0, number - away + 1) : number]
            assert all(excerpt_id not in ids(earlier) for earlier in before), (
                number,
                excerpt_id,
                away,
                [ids(earlier) for earlier in history[max(0, number - away) : number + 1]],
            )


def assert_whole_cycles(history: Sequence[Sequence[Pick]], stayed: Sequence[Excerpt]) -> None:
    """An excerpt that stayed in the pool went through cycle after cycle, none skipped, each
    with its weight's worth of showings (the last one may still be under way)."""
    cycles: dict[str, list[int]] = defaultdict(list)
    for issue in history:
        for pick in issue:
            cycles[pick.excerpt_id].append(pick.cycle)
    for excerpt in stayed:
        labels = cycles[excerpt.id]
        assert all(b - a in (0, 1) for a, b in pairwise(labels)), labels
        counts = Counter(labels)
        assert all(counts[c] == excerpt.weight for c in counts if c != labels[-1]), labels
        assert all(n <= excerpt.weight for n in counts.values()), labels


# --- the two cases from the issue ---------------------------------------------------------


def test_with_seven_excerpts_and_three_per_issue_none_is_in_two_issues_in_a_row() -> None:
    history = run(plain(7), 3, 30)
    assert closest_repeat(history) >= 2
    for earlier, later in pairwise(history):
        assert not set(ids(earlier)) & set(ids(later))


def test_with_forty_excerpts_and_three_per_issue_the_closest_repeat_is_six_apart() -> None:
    history = run(plain(40), 3, 80)
    assert closest_repeat(history) >= 6  # max(2, floor(40 / 6))
    counts = Counter(excerpt_id for issue in history[:40] for excerpt_id in ids(issue))
    assert set(counts.values()) == {3}  # 120 showings: every excerpt three times, cycles whole


def test_six_excerpts_three_per_issue_alternate_halves() -> None:
    """Twice the count exactly: the only way to keep the gap is to alternate two halves."""
    history = run(plain(6), 3, 12)
    assert all(set(ids(history[n])) == set(ids(history[n + 2])) for n in range(10))
    assert closest_repeat(history) == 2


def test_a_pool_below_twice_the_count_still_comes_round_whole() -> None:
    """Five excerpts, three per issue: the gap cannot be kept, and the cycles stay whole."""
    pool = plain(5)
    history = run(pool, 3, 10)
    assert_whole_cycles(history, pool)


# --- the oracle: many random issues with the pool changing under them -----------------------

CHANGES = st.one_of(
    st.tuples(st.just("add"), st.integers(1, 6), st.integers(1, 3)),
    st.tuples(st.just("remove"), st.integers(0, 99), st.just(0)),
    st.tuples(st.just("off"), st.integers(0, 99), st.just(0)),
    st.tuples(st.just("on"), st.integers(0, 99), st.just(0)),
    st.tuples(st.just("none"), st.just(0), st.just(0)),
)


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[Excerpt], int, list[tuple[str, int, int]], str]:
    """A starting pool (1-30 excerpts, weights 1-3 or all 1), a count, changes, a seed."""
    heavy = draw(st.booleans())
    pool = [
        ex(
            f"e{i}",
            source=draw(SOURCES),
            tags=draw(TAGS),
            weight=draw(st.integers(1, 3)) if heavy else 1,
        )
        for i in range(draw(st.integers(1, 30)))
    ]
    changes = draw(st.lists(CHANGES, min_size=1, max_size=40))
    return pool, draw(st.integers(1, 6)), changes, draw(st.text(max_size=6))


def changed(files: list[Excerpt], change: tuple[str, int, int], added: int) -> list[Excerpt]:
    """The excerpt files after one change between issues (never fewer than one active)."""
    what, n, weight = change
    if what == "add":
        return [*files, *(ex(f"new{added + i}", weight=weight) for i in range(n))]
    index = n % len(files)
    after = files
    if what == "remove":
        after = files[:index] + files[index + 1 :]
    elif what in ("off", "on"):
        after = [*files[:index], files[index]._replace(active=what == "on"), *files[index + 1 :]]
    return after if any(e.active for e in after) else files


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios())
def test_the_gap_and_whole_cycles_hold_as_the_pool_changes(
    scenario: tuple[list[Excerpt], int, list[tuple[str, int, int]], str],
) -> None:
    files, count, changes, seed = scenario
    history: list[tuple[Pick, ...]] = []
    pools: list[list[Excerpt]] = []
    touched: set[str] = set()  # removed or switched at some point: no whole-cycle promise
    large = True  # every pool held twice the count: then no cycle may be skipped
    for number, change in enumerate(changes):
        before = {e.id: e for e in files}
        files = changed(files, change, number * 10)
        touched |= {
            i for i, e in before.items() if e != next((f for f in files if f.id == i), None)
        }
        pool = [e for e in files if e.active]
        selection = select(files, history, count, seed)
        assert len(set(ids(selection.picks))) == len(selection.picks) == min(count, len(pool))
        history.append(selection.picks)
        pools.append(pool)
        large = large and len(pool) >= 2 * count
    # The preview's look-ahead is what the next builds make, and keeps the gap too.
    ahead = forecast(files, history, count, seed, 4)
    for selection in ahead:
        assert selection == select(files, history, count, seed)
        history.append(selection.picks)
        pools.append([e for e in files if e.active])
    assert_spaced(history, pools, count)
    if large:
        assert_whole_cycles(history, [e for e in files if e.active and e.id not in touched])


# --- sections: each pool its own gap, counted over every section ------------------------------


@settings(max_examples=100, deadline=None)
@given(
    tag_sets=st.lists(st.sets(st.sampled_from(["a", "b"]), max_size=1), min_size=1, max_size=30),
    sizes=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    issues=st.integers(2, 20),
)
def test_each_section_keeps_the_gap_of_its_own_pool(
    tag_sets: list[set[str]], sizes: tuple[int, int], issues: int
) -> None:
    excerpts = [ex(f"e{n}", tags=tuple(sorted(tags))) for n, tags in enumerate(tag_sets)]
    specs = [
        SectionSpec("A", tags=("a",), per_issue=sizes[0]),
        SectionSpec("Rest", per_issue=sizes[1]),
    ]
    pool_a = [e for e in excerpts if "a" in e.tags]
    pool_rest = [e for e in excerpts if "a" not in e.tags]
    history: list[tuple[Pick, ...]] = []
    for _ in range(issues):
        history.append(select_sections(excerpts, history, specs, "seed", None).picks)
    for title, pool, spec in (("A", pool_a, specs[0]), ("Rest", pool_rest, specs[1])):
        section = [tuple(p for p in issue if p.section == title) for issue in history]
        assert_spaced(section, [pool] * len(section), spec.per_issue)


def test_an_excerpt_shown_as_new_waits_its_gap_before_the_archive_shows_it() -> None:
    """A fresh section's excerpt joins the archive's pool next issue; the reader saw it, so
    the gap counts from there."""
    excerpts = [ex(f"e{n}") for n in range(12)]
    specs = [
        SectionSpec("New", since_last_issue=True, per_issue=1),
        SectionSpec("Archive", per_issue=2),
    ]
    history: list[tuple[Pick, ...]] = []
    for _ in range(12):
        history.append(select_sections(excerpts, history, specs, "seed", None).picks)
    # The archive's pool is 11 or 12 excerpts for 2 a time: a gap of 2 issues at the least.
    assert closest_repeat(history) >= 2


def test_the_dry_run_shows_what_goes_out_and_nothing_comes_back_next_issue(
    project: Path, digest: Digest
) -> None:
    """Six excerpts, three an issue: each dry run is the next build, and the halves alternate."""
    issues = []
    for number in range(1, 6):
        dry = digest("build", "--dry-run")
        promised = re.findall(r"\[(post-\d), cycle", dry.output)
        assert digest("build").exit_code == 0
        assert picked(project, number) == promised
        issues.append(set(promised))
    assert all(not issues[n] & issues[n + 1] for n in range(4))
