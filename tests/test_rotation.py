"""Rotation: distinct picks, complete cycles, weights, seeds, pool changes, variety, forecast."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter_digest.errors import ContentError
from newsletter_digest.models import Excerpt, Pick
from newsletter_digest.rotation.cycles import forecast, position, select

History = list[tuple[Pick, ...]]


def ex(
    excerpt_id: str,
    *,
    source: str | None = None,
    tags: tuple[str, ...] = (),
    weight: int = 1,
    active: bool = True,
) -> Excerpt:
    """An excerpt with just what rotation looks at."""
    return Excerpt(
        id=excerpt_id,
        title=excerpt_id.upper(),
        body="",
        path=Path(f"{excerpt_id}.md"),
        source=source,
        tags=tags,
        weight=weight,
        active=active,
    )


def plain(n: int, *, weight: int = 1) -> list[Excerpt]:
    """``n`` excerpts with no source or tags, so only the cycle and the shuffle decide."""
    return [ex(f"e{i}", weight=weight) for i in range(n)]


def run(
    pool: Sequence[Excerpt],
    per_issue: int,
    issues: int,
    seed: str = "seed",
    history: Sequence[Sequence[Pick]] = (),
) -> History:
    """The picks of ``issues`` more issues after ``history``, as build would record them."""
    return [s.picks for s in forecast(pool, history, per_issue, seed, issues)]


def ids(issue: Sequence[Pick]) -> list[str]:
    return [pick.excerpt_id for pick in issue]


def per_cycle(history: Sequence[Sequence[Pick]]) -> Counter[tuple[str, int]]:
    """How often each excerpt was picked in each cycle."""
    return Counter((pick.excerpt_id, pick.cycle) for issue in history for pick in issue)


def closed_cycles(history: Sequence[Sequence[Pick]], pool: Sequence[Excerpt]) -> int:
    """Cycles below this one are complete: every excerpt has moved on to a later cycle."""
    last: dict[str, int] = {}
    for issue in history:
        for pick in issue:
            last[pick.excerpt_id] = max(last.get(pick.excerpt_id, -1), pick.cycle)
    return min(last.get(e.id, -1) for e in pool)


def show_counts(history: Sequence[Sequence[Pick]], pool: Sequence[Excerpt]) -> list[int]:
    counts = Counter(pick.excerpt_id for issue in history for pick in issue)
    return [counts[e.id] for e in pool]


SOURCES = st.sampled_from([None, "alpha", "beta", "gamma"])
TAGS = st.lists(st.sampled_from(["x", "y", "z"]), max_size=2, unique=True).map(tuple)


@st.composite
def pools(draw: st.DrawFn, *, max_weight: int = 3, equal: bool = False) -> list[Excerpt]:
    """A pool of 1-10 excerpts with random sources and tags, and weights (equal if asked)."""
    size = draw(st.integers(1, 10))
    same = draw(st.integers(1, max_weight))
    return [
        ex(
            f"e{i}",
            source=draw(SOURCES),
            tags=draw(TAGS),
            weight=same if equal else draw(st.integers(1, max_weight)),
        )
        for i in range(size)
    ]


SEEDS = st.text(max_size=8)


# --- each issue: distinct excerpts, the right number of them -------------------------------


def test_an_issue_holds_per_issue_distinct_active_excerpts() -> None:
    pool = plain(6)
    selection = select(pool, [], 3, "seed")
    assert len(selection.excerpts) == 3
    assert len({e.id for e in selection.excerpts}) == 3
    assert [e.id for e in selection.excerpts] == ids(selection.picks)
    assert all(pick.cycle == 0 for pick in selection.picks)
    assert selection.warnings == ()


@settings(max_examples=150, deadline=None)
@given(pool=pools(), per_issue=st.integers(1, 6), issues=st.integers(1, 25), seed=SEEDS)
def test_every_issue_is_distinct_and_full(
    pool: list[Excerpt], per_issue: int, issues: int, seed: str
) -> None:
    for issue in run(pool, per_issue, issues, seed):
        assert len(set(ids(issue))) == len(issue) == min(per_issue, len(pool))


def test_an_issue_that_ends_a_cycle_fills_up_from_the_next_without_repeats() -> None:
    pool = plain(3)
    first, second = run(pool, 2, 2)
    assert [p.cycle for p in second] == [0, 1]
    assert len(set(ids(second))) == 2
    assert set(ids(first)) | {second[0].excerpt_id} == {"e0", "e1", "e2"}


# --- cycles -------------------------------------------------------------------------------


def test_no_excerpt_repeats_before_all_have_appeared() -> None:
    pool = plain(7)
    history = run(pool, 3, 7)
    shown = [excerpt_id for issue in history for excerpt_id in ids(issue)]
    for start in range(0, len(shown) - 6, 7):
        assert sorted(shown[start : start + 7]) == sorted(e.id for e in pool)


@settings(max_examples=150, deadline=None)
@given(pool=pools(), per_issue=st.integers(1, 6), issues=st.integers(1, 30), seed=SEEDS)
def test_each_complete_cycle_shows_every_excerpt_weight_times(
    pool: list[Excerpt], per_issue: int, issues: int, seed: str
) -> None:
    history = run(pool, per_issue, issues, seed)
    counts = per_cycle(history)
    weight = {e.id: e.weight for e in pool}
    assert all(n <= weight[excerpt_id] for (excerpt_id, _), n in counts.items())
    for cycle in range(closed_cycles(history, pool)):
        assert all(counts[e.id, cycle] == e.weight for e in pool)


@settings(max_examples=150, deadline=None)
@given(pool=pools(equal=True), per_issue=st.integers(1, 6), issues=st.integers(1, 30), seed=SEEDS)
def test_with_equal_weights_show_counts_never_differ_by_more_than_one(
    pool: list[Excerpt], per_issue: int, issues: int, seed: str
) -> None:
    history = run(pool, per_issue, issues, seed)
    for done in range(1, issues + 1):
        counts = show_counts(history[:done], pool)
        assert max(counts) - min(counts) <= 1, (done, counts)


def test_weight_n_shows_n_times_per_cycle_never_twice_in_one_issue() -> None:
    pool = [ex("heavy", weight=3), *plain(5)]
    history = run(pool, 2, 40)
    assert all(len(set(ids(issue))) == 2 for issue in history)
    counts = per_cycle(history)
    closed = closed_cycles(history, pool)
    assert closed >= 4
    for cycle in range(closed):
        assert counts["heavy", cycle] == 3
        assert all(counts[f"e{i}", cycle] == 1 for i in range(5))


def test_a_heavy_excerpt_owes_its_showings_even_when_the_next_cycle_opened_first() -> None:
    # Issue 2 ended cycle 0 while heavy still owed one showing of it (it was already in the
    # issue), so cycle 1 opened with b and c; heavy then owes cycle 0 once and cycle 1 twice.
    pool = [ex("heavy", weight=2), ex("b"), ex("c"), ex("d")]
    history: History = [
        (Pick("b", 0), Pick("c", 0), Pick("d", 0)),
        (Pick("heavy", 0), Pick("b", 1), Pick("c", 1)),
    ]
    more = run(pool, 3, 3, history=history)
    heavy = [p.cycle for issue in more for p in issue if p.excerpt_id == "heavy"]
    assert heavy == [0, 1, 1]
    assert [p.cycle for p in more[0] if p.excerpt_id == "d"] == [1]


# --- seeds --------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_issues() -> None:
    pool = [ex(f"e{i}", source=f"s{i % 3}", weight=1 + i % 2) for i in range(9)]
    assert run(pool, 3, 12, "weekly") == run(list(reversed(pool)), 3, 12, "weekly")


def test_a_different_seed_gives_a_different_order() -> None:
    pool = plain(10)
    orders = {tuple(ids(s.picks)) for s in (select(pool, [], 10, seed) for seed in "abcd")}
    assert len(orders) == 4
    assert all(sorted(order) == sorted(e.id for e in pool) for order in orders)


def test_each_cycle_is_shuffled_afresh() -> None:
    pool = plain(10)
    first, second = run(pool, 10, 2)
    assert [p.cycle for p in second] == [1] * 10
    assert ids(first) != ids(second)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 12), seed=SEEDS)
def test_adding_an_excerpt_does_not_reshuffle_the_others(size: int, seed: str) -> None:
    pool = plain(size)
    before = [excerpt_id for issue in run(pool, 1, size, seed) for excerpt_id in ids(issue)]
    grown = run([*pool, ex("new")], 1, size + 1, seed)
    after = [excerpt_id for issue in grown for excerpt_id in ids(issue)]
    assert [excerpt_id for excerpt_id in after if excerpt_id != "new"] == before


# --- the pool changes ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(2, 10),
    data=st.data(),
    seed=SEEDS,
)
def test_an_excerpt_added_mid_cycle_joins_the_current_cycle(
    size: int, data: st.DataObject, seed: str
) -> None:
    pool = plain(size)
    per_issue = data.draw(st.integers(1, size - 1), label="per_issue")
    history = run(pool, per_issue, data.draw(st.integers(1, 12), label="issues"), seed)
    current = max(pick.cycle for pick in history[-1])
    grown = [*pool, ex("new")]
    history += run(grown, per_issue, 2 * (size + 1), seed, history)
    counts = per_cycle(history)
    assert closed_cycles(history, grown) > current
    assert min(p.cycle for issue in history for p in issue if p.excerpt_id == "new") == current
    assert all(counts[e.id, current] == 1 for e in grown)


def test_a_new_excerpt_is_not_owed_the_cycles_it_missed() -> None:
    pool = plain(4)
    history = run(pool, 2, 6)  # three full cycles
    later = run([*pool, ex("new")], 2, 5, history=history)
    shown = Counter(excerpt_id for issue in later for excerpt_id in ids(issue))
    assert shown["new"] == 2  # once in each of the two cycles it was around for


@settings(max_examples=100, deadline=None)
@given(size=st.integers(3, 10), before=st.integers(0, 8), seed=SEEDS)
def test_removed_and_inactive_excerpts_drop_out(size: int, before: int, seed: str) -> None:
    pool = plain(size)
    history = run(pool, 2, before, seed)
    changed = [ex("e0", active=False), *pool[2:]]  # e0 switched off, e1 deleted
    later = run(changed, 2, 3 * size, seed, history)
    assert not {"e0", "e1"} & {excerpt_id for issue in later for excerpt_id in ids(issue)}
    counts = show_counts(later, changed[1:])
    assert max(counts) - min(counts) <= 1 + (before > 0)


def test_a_reactivated_excerpt_rejoins_the_current_cycle_without_catching_up() -> None:
    pool = plain(4)
    history = run(pool, 2, 4)  # two cycles with e0, then six or more without it
    history += run([ex("e0", active=False), *pool[1:]], 2, 10, history=history)
    current = max(pick.cycle for pick in history[-1])
    later = run(pool, 2, 6, history=history)
    cycles = [p.cycle for issue in later for p in issue if p.excerpt_id == "e0"]
    assert cycles and min(cycles) == current
    counts = per_cycle(later)
    closed = closed_cycles([*history, *later], pool)
    assert closed > current + 1
    assert all(counts["e0", cycle] == 1 for cycle in range(current, closed))


def test_a_pool_smaller_than_per_issue_gives_the_whole_pool_and_a_warning() -> None:
    pool = [ex("a"), ex("b"), ex("c", active=False)]
    selection = select(pool, [], 3, "seed")
    assert sorted(e.id for e in selection.excerpts) == ["a", "b"]
    assert selection.warnings == (
        "only 2 active excerpts for per_issue: 3; this issue holds all of them",
    )
    again = select(pool, [selection.picks], 3, "seed")
    assert sorted(ids(again.picks)) == ["a", "b"]
    assert [p.cycle for p in again.picks] == [1, 1]


def test_a_single_excerpt_is_warned_about_in_the_singular() -> None:
    (warning,) = select([ex("a")], [], 2, "seed").warnings
    assert warning.startswith("only 1 active excerpt for per_issue: 2;")


@pytest.mark.parametrize("pool", [[], [ex("a", active=False), ex("b", active=False)]])
def test_an_empty_pool_is_a_content_error_with_a_hint(pool: list[Excerpt]) -> None:
    with pytest.raises(ContentError) as caught:
        select(pool, [(Pick("a", 0),)], 2, "seed")
    assert "no active excerpts" in caught.value.message
    assert caught.value.hint


def test_a_duplicated_id_is_shown_once() -> None:
    selection = select([ex("a"), ex("a"), ex("b")], [], 3, "seed")
    assert sorted(ids(selection.picks)) == ["a", "b"]


def test_bad_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="per_issue"):
        select(plain(2), [], 0, "seed")
    with pytest.raises(ValueError, match="count"):
        forecast(plain(2), [], 1, "seed", -1)


# --- variety ------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS, issues=st.integers(1, 30))
def test_with_two_sources_each_issue_takes_both(seed: str, issues: int) -> None:
    pool = [ex(f"a{i}", source="alpha") for i in range(3)]
    pool += [ex(f"b{i}", source="beta") for i in range(3)]
    for issue in run(pool, 2, issues, seed):
        assert sorted(excerpt_id[0] for excerpt_id in ids(issue)) == ["a", "b"]


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS)
def test_variety_prefers_different_tags_too(seed: str) -> None:
    pool = [ex(f"x{i}", tags=("python",)) for i in range(4)]
    pool += [ex(f"y{i}", tags=("rust", "wasm")) for i in range(4)]
    for issue in run(pool, 2, 12, seed):
        assert sorted(excerpt_id[0] for excerpt_id in ids(issue)) == ["x", "y"]


def test_variety_never_costs_the_cycle_guarantee() -> None:
    pool = [ex(f"a{i}", source="alpha") for i in range(3)] + [ex("b", source="beta")]
    history = run(pool, 2, 10)
    for start in range(0, 10, 2):
        window = [excerpt_id for issue in history[start : start + 2] for excerpt_id in ids(issue)]
        assert sorted(window) == ["a0", "a1", "a2", "b"]


# --- where the rotation stands, and looking ahead ------------------------------------------


def test_selection_reports_the_position_in_the_cycle() -> None:
    pool = plain(5)
    states = [(s.cycle, s.cycle_shown, s.cycle_size) for s in forecast(pool, [], 2, "s", 3)]
    assert states == [(0, 2, 5), (0, 4, 5), (1, 1, 5)]
    assert position(pool, []) == (0, 0, 5)


@settings(max_examples=100, deadline=None)
@given(pool=pools(), per_issue=st.integers(1, 6), issues=st.integers(1, 20), seed=SEEDS)
def test_position_from_history_agrees_with_what_each_selection_said(
    pool: list[Excerpt], per_issue: int, issues: int, seed: str
) -> None:
    history: History = []
    for selection in forecast(pool, [], per_issue, seed, issues):
        history.append(selection.picks)
        assert selection.cycle == selection.picks[-1].cycle
        assert 0 < selection.cycle_shown <= selection.cycle_size
        assert position(pool, history) == (
            selection.cycle,
            selection.cycle_shown,
            selection.cycle_size,
        )


def test_forecast_is_select_fed_its_own_picks() -> None:
    pool = [ex(f"e{i}", source=f"s{i % 2}", weight=1 + i % 3) for i in range(7)]
    history: History = [(Pick("e3", 0), Pick("gone", 0))]
    ahead = forecast(pool, history, 3, "seed", 5)
    past = list(history)
    for expected in ahead:
        selection = select(pool, past, 3, "seed")
        assert selection == expected
        past.append(selection.picks)
    assert forecast(pool, history, 3, "seed", 0) == []
