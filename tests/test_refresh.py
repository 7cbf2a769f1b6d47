"""Sources that refresh themselves: before each build a feed is fetched conditionally (a
304 when nothing is new), a file re-read only when it changed, a failing source reported
while the issue goes out, and `digest sources` says how each one stands."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from test_importers import SOURCES, _FeedHandler, feed_server  # noqa: F401 - the fixture

Digest = Callable[..., Result]


def add_sources(project: Path, text: str) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + text)


def tagged(project: Path, tag: str) -> list[Path]:
    return [
        p for p in (project / "content").glob("*.md") if f"- {tag}" in p.read_text(encoding="utf-8")
    ]


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
