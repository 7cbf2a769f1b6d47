"""Sources that refresh themselves: before each build a feed is fetched conditionally (a
304 when nothing is new), a file re-read only when it changed, a failing source reported
while the issue goes out, and `digest sources` says how each one stands."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import write_excerpt
from newsletter_digest.cli import cli
from newsletter_digest.config.loading import load_config
from newsletter_digest.content.loading import load_content
from newsletter_digest.content.sources import with_source_tags
from test_importers import SOURCES, _FeedHandler, excerpts, feed_server  # noqa: F401 - the fixture

Digest = Callable[..., Result]


def add_sources(project: Path, text: str) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + text)


def tagged(project: Path, tag: str) -> list[Path]:
    """The excerpt files carrying ``tag`` as an issue sees them (a source's tags included)."""
    config = load_config(project / "digest.yaml")
    excerpts = load_content(config.settings.content).excerpts
    found = with_source_tags(excerpts, config.settings.sources, config.base_dir)
    return sorted(e.path for e in found if tag in e.tags)


def test_a_feed_source_refreshes_before_each_build_with_a_conditional_get(
    project: Path,
    digest: Digest,
    feed_server: str,  # noqa: F811
) -> None:
    add_sources(project, f"sources:\n  - feed: {feed_server}/feed.xml\n    tags: [blog]\n")
    first = digest("build")
    assert first.exit_code == 0, first.output
    fresh = tagged(project, "blog")
    assert fresh  # the feed's entries, tagged with the source's tags
    assert "imported_from: feed:" in fresh[0].read_text(encoding="utf-8")
    second = digest("build")
    assert second.exit_code == 0
    assert _FeedHandler.requests[-1].get("If-None-Match") == '"v1"'  # answered with a 304
    assert len(tagged(project, "blog")) == len(fresh)  # nothing twice
    listed = digest("sources")
    assert f"feed:{feed_server}/feed.xml" in listed.output
    assert f"{len(fresh)} excerpts in all" in listed.output and "last error" not in listed.output
    started = time.perf_counter()
    assert "now: not modified" in digest("sources", "--refresh").output
    print(f"refresh with nothing new: {(time.perf_counter() - started) * 1000:.0f} ms")


def test_a_file_source_is_read_again_only_when_it_changes(project: Path, digest: Digest) -> None:
    clippings = project / "My Clippings.txt"
    shutil.copy(SOURCES / "My Clippings.txt", clippings)
    add_sources(project, "sources:\n  - kindle: My Clippings.txt\n    tags: [book]\n")
    assert digest("build").exit_code == 0
    count = len(tagged(project, "book"))
    assert count > 0
    assert "unchanged" in digest("sources", "--refresh").output
    clippings.write_text(
        clippings.read_text(encoding="utf-8-sig")
        + "A New Book (Some Author)\n- Your Highlight on page 3 | location 40-41 | Added on "
        "Tuesday, 4 March 2025 10:00:00\n\nA brand new highlight about reading slowly.\n"
        "==========\n",
        encoding="utf-8",
    )
    assert "now: 1 new" in digest("sources", "--refresh").output
    assert len(tagged(project, "book")) == count + 1


def test_a_failing_source_is_reported_and_the_issue_goes_out(project: Path, digest: Digest) -> None:
    add_sources(
        project,
        "sources:\n  - feed: http://127.0.0.1:9/feed.xml\n  - readwise: missing.csv\n",
    )
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert (project / "outbox" / "issue-0001").is_dir()
    assert result.output.count("the issue goes out without it") == 2
    listed = digest("sources").output
    assert listed.count("last error:") == 2


def test_no_sources_says_how_to_add_them(digest: Digest) -> None:
    assert "add some under 'sources'" in digest("sources").output


def test_a_source_that_breaks_its_importer_is_reported_and_the_issue_goes_out(
    project: Path, digest: Digest
) -> None:
    (project / "broken.md").write_text("---\npublished: 2024-02-30\n---\nA body.\n")
    add_sources(project, "sources:\n  - markdown: broken.md\n")
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "the issue goes out without it" in result.output
    assert (project / "outbox" / "issue-0001").is_dir()


CLIPPING = (
    "Deep Work (Cal Newport)\n- Your Highlight on page 9 | location {span} | Added on "
    "{day} March 2025 10:00:00\n\n{text}\n==========\n"
)


def imported_highlight(project: Path, digest: Digest) -> tuple[Path, Path]:
    """A Kindle source with one highlight (its first version), built once: the clippings
    file and the excerpt it became."""
    clippings = project / "My Clippings.txt"
    clippings.write_text(
        CLIPPING.format(span="90-91", day="Monday, 3", text="Clarity about what matters provid"),
        encoding="utf-8",
    )
    add_sources(project, "sources:\n  - kindle: My Clippings.txt\n    tags: [book]\n")
    assert digest("build").exit_code == 0
    [imported] = tagged(project, "book")
    return clippings, imported


def test_a_highlight_edited_on_the_device_updates_its_excerpt_in_place(
    project: Path, digest: Digest
) -> None:
    """The edit comes in once: the excerpt imported from the first version takes the latest
    text and keeps its name (its place in the rotation) and what the user added to it."""
    clippings, imported = imported_highlight(project, digest)
    text = imported.read_text(encoding="utf-8")  # the user adds a tag and a weight
    imported.write_text(text.replace("---\n", "---\ntags:\n- focus\nweight: 3\n", 1))
    imported.chmod(0o600)
    with clippings.open("a", encoding="utf-8") as handle:  # the device appends the edit
        handle.write(
            CLIPPING.format(
                span="90-92",
                day="Tuesday, 4",
                text="Clarity about what matters provides clarity about what does not.",
            )
        )
    result = digest("sources", "--refresh")
    assert "now: 0 new, 1 updated, 1 skipped" in result.output, result.output
    assert tagged(project, "book") == [imported]  # no second excerpt
    meta, body = excerpts(project / "content")[imported.name]
    assert body == "Clarity about what matters provides clarity about what does not."
    assert meta["tags"] == ["focus"] and meta["weight"] == 3
    assert imported.stat().st_mode & 0o777 == 0o600
    assert tagged(project, "focus") == [imported]
    assert meta["location"] == "page 9, location 90-92"
    assert meta["title"] == "Clarity about what matters provides clarity about what does not"


def test_an_excerpt_the_user_rewrote_is_not_overwritten_by_an_edit(
    project: Path, digest: Digest
) -> None:
    clippings, imported = imported_highlight(project, digest)
    mine = imported.read_text(encoding="utf-8").replace("matters provid", "matters, in my words.")
    imported.write_text(mine, encoding="utf-8")
    with clippings.open("a", encoding="utf-8") as handle:
        handle.write(CLIPPING.format(span="90-92", day="Tuesday, 4", text="Clarity, edited."))
    assert "now: 0 new" in digest("sources", "--refresh").output
    assert imported.read_text(encoding="utf-8") == mine
    assert tagged(project, "book") == [imported]  # the passage is in, in the user's words


def test_what_a_refresh_notes_is_shown_once_and_kept_for_digest_sources(
    project: Path, digest: Digest, tmp_path: Path
) -> None:
    feed = project / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>'
        "<item><title>One</title><link>javascript:alert(1)</link>"
        "<description>A post with a bad link.</description></item>"
        "<item><title>Two</title></item></channel></rss>",
        encoding="utf-8",
    )
    add_sources(project, "sources:\n  - feed: feed.xml\n")
    first = digest("build")
    assert first.exit_code == 0
    assert "link 'javascript:alert(1)' left out" in first.output
    second = digest("build")  # the file is unchanged: not read, nothing said again
    assert "left out" not in second.output
    listed = digest("sources").output
    assert "note: entry 1: link 'javascript:alert(1)' left out" in listed
    assert "skipped 1 entries when last read" in listed


def test_changing_a_sources_tags_moves_what_it_brought(project: Path, digest: Digest) -> None:
    shutil.copy(SOURCES / "My Clippings.txt", project / "My Clippings.txt")
    add_sources(project, "sources:\n  - kindle: My Clippings.txt\n    tags: [book]\n")
    assert digest("build", "--no-send").exit_code == 0
    books = tagged(project, "book")
    assert books and all("- book" not in p.read_text(encoding="utf-8") for p in books)
    config = project / "digest.yaml"
    config.write_text(
        config.read_text().replace("tags: [book]", "tags: [reading]")
        + "sections:\n  - title: Reading\n    from: {tags: [reading]}\n    count: 1\n"
        "    required: true\n  - title: More\n    count: 1\n"
    )
    assert tagged(project, "reading") == books and not tagged(project, "book")
    dry = digest("build", "--dry-run")
    assert dry.exit_code == 0, dry.output  # the required section finds the retagged ones
    assert "Reading: rotation" in dry.output
    assert "'digest sources --refresh' brings in what they have new now" in dry.output


def test_an_edit_that_drifted_across_several_versions_is_still_one_highlight(
    project: Path, digest: Digest
) -> None:
    clippings, imported = imported_highlight(project, digest)  # location 90-91
    with clippings.open("a", encoding="utf-8") as handle:
        handle.write(CLIPPING.format(span="90-95", day="Tuesday, 4", text="Clarity, second."))
        handle.write(CLIPPING.format(span="94-99", day="Wednesday, 5", text="Clarity, third."))
    assert "now: 0 new, 1 updated, 2 skipped" in digest("sources", "--refresh").output
    assert tagged(project, "book") == [imported]
    assert excerpts(project / "content")[imported.name][1] == "Clarity, third."


def test_an_edit_never_overwrites_a_file_of_the_users_own_with_the_same_text(
    project: Path, digest: Digest
) -> None:
    clippings, imported = imported_highlight(project, digest)
    mine = project / "content" / "a-my-own.md"  # sorts before the imported file
    mine.write_text(
        "---\nsource: Something I read\n---\n\nClarity about what matters provid\n",
        encoding="utf-8",
    )
    before = mine.read_text(encoding="utf-8")
    with clippings.open("a", encoding="utf-8") as handle:
        handle.write(CLIPPING.format(span="90-92", day="Tuesday, 4", text="Clarity, edited."))
    assert "1 updated" in digest("sources", "--refresh").output
    assert mine.read_text(encoding="utf-8") == before
    assert excerpts(project / "content")[imported.name][1] == "Clarity, edited."


def test_a_source_is_the_same_however_the_config_is_reached(
    project: Path, digest: Digest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Its excerpts name it by its path in the project, so its tags still reach them when
    the config is given by another path, or the project is moved."""
    shutil.copy(SOURCES / "My Clippings.txt", project / "My Clippings.txt")
    add_sources(project, "sources:\n  - kindle: My Clippings.txt\n    tags: [book]\n")
    assert digest("build", "--no-send").exit_code == 0
    [first, *_] = tagged(project, "book")
    assert "imported_from: kindle:My Clippings.txt\n" in first.read_text(encoding="utf-8")
    moved = shutil.move(project, tmp_path_factory.mktemp("moved") / "elsewhere")
    roundabout = Path(moved) / "content" / ".." / "digest.yaml"
    listed = CliRunner().invoke(cli, ["--config", str(roundabout), "sources", "--refresh"])
    assert "kindle:My Clippings.txt" in listed.output and "now: unchanged" in listed.output
    assert len(tagged(Path(moved), "book")) == 3
    link = tmp_path_factory.mktemp("links") / "project"
    link.symlink_to(moved)  # and through a symbolic link to the project
    listed = CliRunner().invoke(cli, ["--config", str(link / "digest.yaml"), "sources"])
    assert "kindle:My Clippings.txt" in listed.output and "never refreshed" not in listed.output
    assert len(tagged(link, "book")) == 3


def test_a_source_file_that_is_a_symbolic_link_keeps_its_own_name(
    project: Path, digest: Digest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    device = tmp_path_factory.mktemp("kindle") / "My Clippings.txt"  # on the mounted device
    shutil.copy(SOURCES / "My Clippings.txt", device)
    (project / "clippings.txt").symlink_to(device)
    add_sources(project, "sources:\n  - kindle: clippings.txt\n    tags: [book]\n")
    assert digest("build", "--no-send").exit_code == 0
    books = tagged(project, "book")
    assert len(books) == 3
    assert "imported_from: kindle:clippings.txt\n" in books[0].read_text(encoding="utf-8")


BOOK_SECTIONS = (
    "sections:\n  - title: Reading\n    from: {tags: [book]}\n    count: 1\n    required: true\n"
    "  - title: More\n    count: 1\n"
)


def test_a_source_added_after_an_import_of_its_file_takes_it_as_its_own(
    project: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`digest import` of the clippings file, then a source for it: its tags reach what
    the import brought in, the section built on them finds it, nothing comes in twice."""
    shutil.copy(SOURCES / "My Clippings.txt", project / "My Clippings.txt")
    monkeypatch.chdir(project / "content")  # the file named from another working folder
    imported = digest("import", "../My Clippings.txt")
    assert "3 added" in imported.output, imported.output
    files = sorted((project / "content").glob("*.md"))
    add_sources(project, "sources:\n  - kindle: My Clippings.txt\n    tags: [book]\n")
    add_sources(project, BOOK_SECTIONS)
    assert len(tagged(project, "book")) == 3  # before any refresh
    built = digest("build", "--no-send")
    assert built.exit_code == 0, built.output
    assert "left out" not in built.output
    assert sorted((project / "content").glob("*.md")) == files
    html = (project / "outbox" / "issue-0001" / "issue-0001.html").read_text(encoding="utf-8")
    assert ">Reading</h2>" in html
    assert "3 excerpts in all" in digest("sources").output  # the import counts for it


def test_a_source_adopts_what_an_import_from_before_brought_in(
    project: Path, digest: Digest
) -> None:
    """Excerpts an older `digest import` wrote (``imported_from: kindle``) become the
    source's when its file holds their text: named after it, comments kept, tagged."""
    shutil.copy(SOURCES / "My Clippings.txt", project / "My Clippings.txt")
    legacy = project / "content" / "care-about-your-craft.md"
    legacy.write_text(
        "---\ntitle: Care about your craft\nbook: The Pragmatic Programmer\n"
        "imported_from: kindle\nadded: 2025-03-10  # my first import\n---\n\n"
        "Care about your craft. Why spend your life developing software unless you care "
        "about doing it well?\n",
        encoding="utf-8",
    )
    mine = write_excerpt(
        project / "content",
        "mine",
        "Mine",
        "Nothing in life is as important as you think it is, while you are thinking about it.",
    )
    before = mine.read_text(encoding="utf-8")
    add_sources(project, "sources:\n  - kindle: My Clippings.txt\n    tags: [book]\n")
    refreshed = digest("sources", "--refresh")
    assert "now: 1 new, 1 adopted" in refreshed.output, refreshed.output
    text = legacy.read_text(encoding="utf-8")
    assert "imported_from: kindle:My Clippings.txt\n" in text
    assert "added: 2025-03-10  # my first import" in text
    assert legacy in tagged(project, "book")
    assert mine.read_text(encoding="utf-8") == before  # a file of the user's own stays theirs
    assert mine not in tagged(project, "book")
    assert len(tagged(project, "book")) == 2  # Marcus Aurelius came in, nothing twice


def test_a_feed_source_takes_over_a_one_off_import_of_its_url(
    project: Path,
    digest: Digest,
    feed_server: str,  # noqa: F811
) -> None:
    url = f"{feed_server}/feed.xml"
    assert "3 added" in digest("import", url).output
    add_sources(project, f"sources:\n  - feed: {url}\n    tags: [blog]\n")
    assert len(tagged(project, "blog")) == 3
    assert "now: not modified" in digest("sources", "--refresh").output  # one 304
    assert _FeedHandler.requests[-1].get("If-None-Match") == '"v1"'


def test_after_the_upgrade_a_source_reads_its_unchanged_file_once_to_adopt(
    project: Path, digest: Digest
) -> None:
    """A source refreshed before excerpts named their file, its file unchanged since, still
    adopts an older import of it: the state's record of the file from then does not count."""
    shutil.copy(SOURCES / "My Clippings.txt", project / "My Clippings.txt")
    add_sources(project, "sources:\n  - kindle: My Clippings.txt\n    tags: [book]\n")
    assert "now: 3 new" in digest("sources", "--refresh").output
    for path in tagged(project, "book"):  # as an import from before this change left them
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("imported_from: kindle:My Clippings.txt", "imported_from: kindle")
        )
    assert tagged(project, "book") == []
    stat = (project / "My Clippings.txt").stat()
    config = load_config(project / "digest.yaml")
    with sqlite3.connect(config.settings.state) as db:  # the stamp as the refresh wrote it then
        db.execute("UPDATE sources SET file_stamp = ?", (f"{stat.st_size}:{stat.st_mtime_ns}",))
    db.close()
    assert "now: 0 new, 3 adopted" in digest("sources", "--refresh").output
    assert len(tagged(project, "book")) == 3
    assert "now: unchanged" in digest("sources", "--refresh").output
