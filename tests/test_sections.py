"""Issues with sections: each section its own pool and rotation; nothing twice in an issue;
fresh items once, newest first; an empty section left out, or the build stopped if required."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_excerpt
from newsletter_digest.config.loading import load_config
from newsletter_digest.errors import ContentError
from newsletter_digest.models import Excerpt, Pick, SectionSpec
from newsletter_digest.pipeline import plan_next
from newsletter_digest.rotation.sections import select_sections
from newsletter_digest.state.store import open_state

Digest = Callable[..., Result]
TAGS = ("blog", "book", "talk", "news")


def excerpt(n: int, tags: tuple[str, ...] = (), dated: date | None = None) -> Excerpt:
    return Excerpt(f"e{n:03d}", f"Excerpt {n}", "Body.", Path(f"e{n}.md"), tags=tags, added=dated)


POOLS = st.lists(st.sets(st.sampled_from(TAGS), max_size=2), min_size=1, max_size=30)
SPECS = st.lists(
    st.tuples(st.sets(st.sampled_from(TAGS), max_size=2), st.integers(1, 4)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(POOLS, SPECS, st.integers(2, 14))
def test_no_repeats_in_an_issue_and_each_pool_comes_round(
    tag_sets: list[set[str]], raw_specs: list[tuple[set[str], int]], issues: int
) -> None:
    excerpts = [excerpt(n, tuple(sorted(tags))) for n, tags in enumerate(tag_sets)]
    specs = [
        SectionSpec(f"S{i}", tags=tuple(sorted(tags)), size=size)
        for i, (tags, size) in enumerate(raw_specs)
    ]
    # The pools as the rule says: each excerpt in the first section whose tags it matches.
    pools: dict[str, set[str]] = {spec.title: set() for spec in specs}
    for e in excerpts:
        for spec in specs:
            if not spec.tags or set(spec.tags) & set(e.tags):
                pools[spec.title].add(e.id)
                break
    history: list[tuple[Pick, ...]] = []
    shown: dict[str, Counter[str]] = {spec.title: Counter() for spec in specs}
    for _ in range(issues):
        try:
            selection = select_sections(excerpts, history, specs, "seed", None)
        except ContentError:
            assert not any(pools.values())  # only when no section has any excerpt
            return
        ids = [e.id for e in selection.excerpts]
        assert len(ids) == len(set(ids))  # never twice in one issue
        for pick in selection.picks:
            assert pick.excerpt_id in pools[pick.section]  # from its own section's pool
            shown[pick.section][pick.excerpt_id] += 1
        for spec in specs:
            taken = sum(1 for p in selection.picks if p.section == spec.title)
            assert taken == min(spec.size, len(pools[spec.title]))
            counts = [shown[spec.title][i] for i in pools[spec.title]]
            if counts:  # everything comes round once before anything repeats
                assert max(counts) - min(counts) <= 1, (spec.title, counts)
        history.append(selection.picks)


def test_fresh_items_come_newest_first_once_then_join_the_rotation() -> None:
    day = date(2026, 11, 30)
    old = [excerpt(n, ("blog",), day - timedelta(days=30 + n)) for n in range(4)]
    new = [excerpt(10 + n, ("blog",), day + timedelta(days=n + 1)) for n in range(3)]
    specs = [
        SectionSpec("New this week", tags=("blog",), since_last_issue=True, size=2),
        SectionSpec("From the archive", size=2),
    ]
    first = select_sections(old + new, [], specs, "s", day)
    assert [e.id for e in first.excerpts[:2]] == ["e012", "e011"]  # newest first
    assert first.sections == (("New this week", 2), ("From the archive", 2))
    assert all(r.startswith("New this week: new since") for r in first.reasons[:2])
    assert all("rotation: cycle" in r for r in first.reasons[2:])
    second = select_sections(old + new, [first.picks], specs, "s", day)
    assert [e.id for e in second.excerpts[:1]] == ["e010"]  # the one not shown yet
    assert second.sections[0] == ("New this week", 1)
    third = select_sections(
        old + new, [first.picks, second.picks], specs, "s", day + timedelta(days=5)
    )
    assert third.sections == (("From the archive", 2),)  # nothing fresh: the section is left out
    assert any("left out" in w for w in third.warnings)


def test_a_required_section_that_finds_nothing_stops_the_issue() -> None:
    specs = [SectionSpec("Talks", tags=("talk",), required=True), SectionSpec("All", size=2)]
    with pytest.raises(ContentError, match="section 'Talks' found no excerpts"):
        select_sections([excerpt(1, ("blog",)), excerpt(2)], [], specs, "s", None)


SECTIONS = """
sections:
  - title: New this week
    from: {tags: [fresh], since_last_issue: true}
    count: 1
  - title: From the archive
    count: 2
"""


def test_an_issue_with_sections_shows_them_in_both_parts(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + SECTIONS)
    write_excerpt(project / "content", "zz-new", "A fresh post", tags=["fresh"], added="2099-01-01")
    result = digest("build")
    assert result.exit_code == 0, result.output
    folder = project / "outbox" / "issue-0001"
    page = (folder / "issue-0001.html").read_text(encoding="utf-8")
    html = page[page.index("<body") :]  # the subject in <title> names the post too
    text = (folder / "issue-0001.txt").read_text(encoding="utf-8")
    fresh = html.index("A fresh post</h3>")  # the excerpt's own heading
    assert html.index(">New this week</h2>") < fresh < html.index(">From the archive</h2>")
    assert html.count("<h3") == 3
    assert "== New this week ==" in text and "== From the archive ==" in text
    dry = digest("build", "--dry-run")  # the fresh post is shown now: the section is empty
    assert "New this week" in dry.output and "left out" in dry.output


def test_a_required_empty_section_writes_nothing(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    config.write_text(
        config.read_text() + SECTIONS.replace("count: 1", "count: 1\n    required: true")
    )
    result = digest("build")
    assert result.exit_code == 1 and "section 'New this week' found no excerpts" in result.output
    assert not (project / "outbox").exists()


def test_a_fresh_section_leaves_what_it_does_not_show_to_the_next() -> None:
    """On the first issue everything is fresh: a later required section still gets some."""
    specs = [
        SectionSpec("New", since_last_issue=True, size=1),
        SectionSpec("Classics", size=2, required=True),
    ]
    selection = select_sections([excerpt(n) for n in range(5)], [], specs, "s", None)
    assert selection.sections == (("New", 1), ("Classics", 2))


def test_switching_to_sections_does_not_show_the_last_issue_again() -> None:
    pool = [excerpt(n) for n in range(6)]
    before = [Pick("e000", 0), Pick("e003", 0)]  # an issue made before there were sections
    selection = select_sections(pool, [before], [SectionSpec("All", size=2)], "s", None)
    assert not {"e000", "e003"} & {e.id for e in selection.excerpts}


def test_an_excerpt_dated_the_day_of_the_last_issue_is_new() -> None:
    day = date(2025, 3, 3)
    specs = [SectionSpec("New", since_last_issue=True), SectionSpec("Rest", size=1)]
    selection = select_sections([excerpt(1, dated=day), excerpt(2)], [], specs, "s", day)
    assert selection.excerpts[0].id == "e001" and selection.sections[0] == ("New", 1)


def test_the_preview_of_the_issue_after_next_is_the_issue_made_after_the_next(
    project: Path, digest: Digest
) -> None:
    """Looking two issues ahead counts as new only what the real second issue will: once the
    next issue is made today, posts dated before today are no longer new."""
    config_file = project / "digest.yaml"
    config_file.write_text(config_file.read_text() + SECTIONS)
    today = date.today()
    for n in range(1, 4):  # three fresh posts from the last few days; one fits per issue
        day = (today - timedelta(days=n)).isoformat()
        write_excerpt(project / "content", f"post-{n}", f"Post {n}", tags=["fresh"], added=day)

    def plan(skip: int) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
        config = load_config(config_file)
        with open_state(config.settings.state, readonly=True) as state:
            selection = plan_next(config, state, today, use_cache=False, skip=skip).selection
        return tuple(e.id for e in selection.excerpts), selection.sections

    forecast = plan(skip=1)
    assert digest("build").exit_code == 0
    made = plan(skip=0)
    assert forecast == made
    assert made[1] == (("From the archive", 2),)  # nothing dated today: no new section
