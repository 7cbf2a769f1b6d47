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
from newsletter_digest.app.issues import plan_next
from newsletter_digest.config.loading import load_config
from newsletter_digest.errors import ContentError
from newsletter_digest.models import Excerpt, IssueRecord, Pick, SectionSpec
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
        SectionSpec(f"S{i}", tags=tuple(sorted(tags)), per_issue=size)
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
            assert taken == min(spec.per_issue, len(pools[spec.title]))
            counts = [shown[spec.title][i] for i in pools[spec.title]]
            if counts:  # everything comes round once before anything repeats
                assert max(counts) - min(counts) <= 1, (spec.title, counts)
        history.append(selection.picks)


def test_new_items_the_section_has_no_room_for_wait_their_turn() -> None:
    """'per_issue' is a rate, not a cut: three posts new since the last issue and room for two
    go out over two issues, oldest first (each issue shows its newest first), with a
    warning while some wait; the back catalogue from before the first issue is not new."""
    day = date(2026, 11, 30)
    old = [excerpt(n, ("blog",), day - timedelta(days=30 + n)) for n in range(4)]
    new = [excerpt(10 + n, ("blog",), day + timedelta(days=n + 1)) for n in range(3)]
    books = [excerpt(20 + n, ("book",)) for n in range(4)]
    specs = [
        SectionSpec("New this week", tags=("blog",), since_last_issue=True, per_issue=2),
        SectionSpec("From the archive", tags=("book",), per_issue=2),
    ]
    pool = old + new + books
    first = select_sections(pool, [], specs, "s", None, [day])
    assert [e.id for e in first.excerpts[:2]] == ["e011", "e010"]
    assert first.sections == (("New this week", 2), ("From the archive", 2))
    assert all(r.startswith("New this week: new since") for r in first.reasons[:2])
    assert all("rotation: cycle" in r for r in first.reasons[2:])
    assert any("1 more new excerpt waits for later issues" in w for w in first.warnings)
    later = day + timedelta(days=7)
    second = select_sections(pool, [first.picks], specs, "s", None, [day, later])
    assert [e.id for e in second.excerpts[:1]] == ["e012"]  # its turn, though older
    assert second.sections[0] == ("New this week", 1) and not second.warnings[:-1]
    third = select_sections(
        pool, [first.picks, second.picks], specs, "s", None, [day, later, later]
    )
    assert third.sections == (("From the archive", 2),)  # nothing new: the section is left out
    assert any("left out" in w for w in third.warnings)
    assert not {e.id for e in old} & {p.excerpt_id for s in (first, second, third) for p in s.picks}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 20), min_size=1, max_size=25),  # each post's day of publication
    st.integers(1, 3),
)
def test_every_new_item_goes_out_once_at_the_sections_rate(days: list[int], size: int) -> None:
    """Weekly issues, posts arriving on their day: each post new since the issue before it
    arrived is shown once in the section, none is lost, and never more than 'per_issue' at a
    time."""
    start = date(2026, 1, 5)
    posts = [excerpt(n, ("blog",), start + timedelta(days=d)) for n, d in enumerate(days)]
    specs = [SectionSpec("New", tags=("blog",), since_last_issue=True, per_issue=size)]
    history: list[tuple[Pick, ...]] = []
    made: list[date] = [start - timedelta(days=1)]  # an issue before the first post
    shown: list[str] = []
    for week in range(len(posts) + 4):
        today = start + timedelta(days=7 * week)
        arrived = [p for p in posts if p.added is not None and p.added <= today]
        try:
            selection = select_sections(arrived, history, specs, "s", None, made)
        except ContentError:
            selection = None
        picks = selection.picks if selection else ()
        assert len(picks) <= size
        shown += [p.excerpt_id for p in picks]
        history.append(tuple(picks))
        made.append(today)
    assert sorted(shown) == sorted(p.id for p in posts)  # each once, none left behind


def test_a_required_section_that_finds_nothing_stops_the_issue() -> None:
    specs = [SectionSpec("Talks", tags=("talk",), required=True), SectionSpec("All", per_issue=2)]
    with pytest.raises(ContentError, match="section 'Talks' found no excerpts"):
        select_sections([excerpt(1, ("blog",)), excerpt(2)], [], specs, "s", None)


SECTIONS = """
sections:
  - title: New this week
    from: {tags: [fresh], since_last_issue: true}
    per_issue: 1
  - title: From the archive
    per_issue: 2
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
        config.read_text() + SECTIONS.replace("per_issue: 1", "per_issue: 1\n    required: true")
    )
    result = digest("build")
    assert result.exit_code == 1 and "section 'New this week' found no excerpts" in result.output
    assert not (project / "outbox").exists()


def test_a_fresh_section_leaves_what_it_does_not_show_to_the_next() -> None:
    """On the first issue everything is fresh: a later required section still gets some."""
    specs = [
        SectionSpec("New", since_last_issue=True, per_issue=1),
        SectionSpec("Classics", per_issue=2, required=True),
    ]
    selection = select_sections([excerpt(n) for n in range(5)], [], specs, "s", None)
    assert selection.sections == (("New", 1), ("Classics", 2))


def test_switching_to_sections_does_not_show_the_last_issue_again() -> None:
    pool = [excerpt(n) for n in range(6)]
    before = [Pick("e000", 0), Pick("e003", 0)]  # an issue made before there were sections
    selection = select_sections(pool, [before], [SectionSpec("All", per_issue=2)], "s", None)
    assert not {"e000", "e003"} & {e.id for e in selection.excerpts}


def test_an_excerpt_dated_the_day_of_the_last_issue_is_new() -> None:
    day = date(2025, 3, 3)
    specs = [SectionSpec("New", since_last_issue=True), SectionSpec("Rest", per_issue=1)]
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


def test_new_posts_that_missed_their_issue_still_go_out_and_history_says_so(
    project: Path, digest: Digest
) -> None:
    """Three posts came in after an issue two weeks ago; last week's issue had room for
    one. The other two wait: the next issue (the preview, the dry run, the build) shows
    the oldest, and `digest history` counts what waits, not a rotation they are not in."""
    config_file = project / "digest.yaml"
    config_file.write_text(
        config_file.read_text()
        + "sections:\n  - title: New this week\n    from: {tags: [blog], since_last_issue: true}"
        "\n    per_issue: 1\n  - title: From the archive\n"
        "    from: {sources: [source-0, source-1, source-2]}\n    per_issue: 2\n"
    )
    today = date.today()
    first, second = today - timedelta(days=14), today - timedelta(days=7)
    for n in (1, 2, 3):  # posts of the week after the first issue, added as they came
        day = (first + timedelta(days=n)).isoformat()
        write_excerpt(
            project / "content",
            f"blog-{n}",
            f"Blog post {n}",
            tags=["blog"],
            published=day,
            added=day,
        )
    config = load_config(config_file)
    with open_state(config.settings.state) as state:
        for number, (day, picks) in enumerate(
            [
                (first, (Pick("post-1", 0, "From the archive"),)),
                (
                    second,
                    (Pick("blog-3", 0, "New this week"), Pick("post-2", 0, "From the archive")),
                ),
            ],
            start=1,
        ):
            state.record_issue(
                IssueRecord(
                    number,
                    day,
                    f"{day}T09:00:00+00:00",
                    f"Issue {number}",
                    f"<{number}@example.org>",
                    f"issue-{number:04d}",
                    picks,
                    tuple(p.excerpt_id for p in picks),
                )
            )
    history = digest("history")
    assert "section 'New this week': 2 new waiting, the next issue shows 1" in history.output
    assert "section 'From the archive': cycle 1, 2 of 6 shown; 4 to go" in history.output
    dry = digest("build", "--dry-run")
    assert "Blog post 1  [blog-1, New this week: new (" in dry.output, dry.output
    assert "its turn after waiting]" in dry.output
    assert "1 more new excerpt waits for later issues" in dry.output
    assert digest("build", "--no-send").exit_code == 0
    after = digest("build", "--dry-run").output
    assert "Blog post 2  [blog-2, New this week: new (" in after


NEWS_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title><link>https://example.org/</link>
<description>d</description><item><title>Launch day</title><link>https://example.org/1</link>
<guid>https://example.org/1</guid><description>We launched. It went well.</description></item>
</channel></rss>
"""


def test_a_section_naming_a_configured_source_by_its_file_says_how_to_pick_it(
    project: Path, digest: Digest
) -> None:
    """`from: {sources: [...]}` matches an excerpt's `source` (the feed's title), so a section
    written with the feed's file or URL, as the source is configured, finds nothing: the
    warning says what `sources` matches and that the source's `tags` pick what it brought."""
    (project / "news.xml").write_text(NEWS_FEED, encoding="utf-8")
    config = project / "digest.yaml"
    config.write_text(
        config.read_text()
        + "sources:\n  - feed: news.xml\n    tags: [news]\n"
        + "sections:\n  - title: News\n    from: {sources: [news.xml]}\n    per_issue: 1\n"
        + "  - title: From the archive\n    per_issue: 2\n"
    )
    assert digest("sources", "--refresh").exit_code == 0
    dry = digest("build", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "section 'News' found no excerpts and is left out" in dry.output
    assert "no excerpt's source is news.xml" in dry.output
    assert "'Example News'" in dry.output  # the source an excerpt of that feed has
    assert "give that source 'tags' and use 'from: {tags: ...}'" in dry.output
    config.write_text(config.read_text().replace("[news.xml]", "['Example News']"))
    fixed = digest("build", "--dry-run")
    assert "Launch day" in fixed.output and "left out" not in fixed.output
