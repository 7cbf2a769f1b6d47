"""Importers: feeds (file and HTTP with conditional GET), Kindle clippings, Readwise and
Instapaper CSV exports; bad input; duplicates; speed of a large feed."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsletter_digest.cli import cli
from newsletter_digest.content.frontmatter import split_front_matter
from newsletter_digest.content.importers import base as importer_base
from newsletter_digest.content.importers import (
    cut_at_sentence,
    dedupe_key,
    detect_format,
    fetch,
    import_source,
)
from newsletter_digest.content.importers.feeds import html_to_markdown, parse_feed
from newsletter_digest.content.loading import load_content
from newsletter_digest.errors import ContentError
from newsletter_digest.render.markdown import to_html

SOURCES = Path(__file__).parent / "data" / "sources"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "digest.yaml").write_text(
        "title: T\nsender: t@example.org\ncontent: content\n", encoding="utf-8"
    )
    (tmp_path / "content").mkdir()
    (tmp_path / "exports").mkdir()
    return tmp_path


def run(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(project / "digest.yaml"), "import", *args])


def excerpts(folder: Path) -> dict[str, tuple[dict[str, object], str]]:
    import yaml

    found: dict[str, tuple[dict[str, object], str]] = {}
    for path in sorted(folder.glob("*.md")):
        front, body, _line = split_front_matter(path.read_text(encoding="utf-8"))
        found[path.name] = (yaml.safe_load(front or "") or {}, body.strip())
    return found


def clippings(folder: Path, entry: str, *fields: dict[str, str]) -> Path:
    """A "My Clippings.txt" of ``entry`` (a format string) filled in with each of ``fields``."""
    path = folder / "My Clippings.txt"
    path.write_text("".join(entry.format(**each) for each in fields), encoding="utf-8")
    return path


def no_leftovers(folder: Path) -> None:
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


# --- feeds -------------------------------------------------------------------------------


def test_rss_feed_entries_become_excerpts_with_provenance(project: Path) -> None:
    shutil.copy(SOURCES / "feed.xml", project / "feed.xml")
    result = run(project, str(project / "feed.xml"))
    assert result.exit_code == 0, result.output
    assert "3 added, 0 duplicate, 0 skipped" in result.output
    files = excerpts(project / "content")
    meta, body = files["caching-is-the-cheapest-speed-up.md"]
    assert meta["title"] == "Caching is the cheapest speed-up"
    assert meta["url"] == "https://slow.example.org/2025/03/caching"
    assert meta["author"] == "Ada Byron"
    assert meta["source"] == "Slow Systems"
    assert str(meta["published"]) == "2025-03-03"
    assert meta["imported_from"] == "feed:feed.xml"
    assert "added" in meta
    assert "**one**" in body
    assert "[how](https://slow.example.org/2025/03/caching#how)" in body
    assert "<p>" not in body
    # summary first; content only when there is no summary
    assert "harder to see" in files["queues-are-not-a-silver-bullet.md"][1]
    assert "- First point" in files["only-content-no-summary.md"][1]
    no_leftovers(project / "content")


def test_atom_feed_html_title_is_plain_text(tmp_path: Path) -> None:
    report = import_source(SOURCES / "atom.xml", tmp_path)
    assert report.format == "feed"
    (meta, body) = excerpts(tmp_path)["reading-slowly.md"]
    assert meta["title"] == "Reading slowly"
    assert meta["url"] == "https://notes.example.net/reading-slowly"
    assert str(meta["published"]) == "2025-03-01"
    assert body == "A book read twice is worth ten read once."


def test_long_entry_is_cut_at_a_sentence_near_the_length() -> None:
    text = "One short sentence here. " * 40
    cut = cut_at_sentence(text.strip(), 600)
    assert len(cut) <= 601
    assert cut.endswith("here…")
    assert cut_at_sentence("Short.", 600) == "Short."
    words = "word " * 300
    cut = cut_at_sentence(words.strip(), 100)
    assert cut.endswith("word…") and len(cut) <= 101


def test_feed_max_length_option(project: Path, tmp_path: Path) -> None:
    feed = tmp_path / "long.xml"
    sentence = "This sentence is part of a long post. "
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>L</title>'
        f"<item><title>Long</title><description>{sentence * 50}</description></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    assert run(project, "--max-length", "200", str(feed)).exit_code == 0
    body = excerpts(project / "content")["long.md"][1]
    assert body.endswith("long post…")
    assert 100 < len(body) <= 201


def test_scripts_and_javascript_links_never_reach_the_output(tmp_path: Path) -> None:
    report = import_source(SOURCES / "scripts.xml", tmp_path)
    assert len(report.written) == 2
    for path in tmp_path.glob("*.md"):
        text = path.read_text(encoding="utf-8").lower()
        assert not re.search(r"(?<!\\)<script", text)  # "\<script\>" is text, shown as typed
        assert "javascript:" not in text
        assert "onclick" not in text and "onerror" not in text and "<iframe" not in text
    files = excerpts(tmp_path)
    meta, body = files["click-me.md"]
    assert "url" not in meta  # the entry's javascript: link was dropped
    assert "[that one](https://hostile.example.com/ok)" in body
    assert "this link" in body and "](javascript" not in body
    # the feed's escaped "<script>" is words the reader sees, never an element
    rendered = " ".join(to_html(text) for _, text in files.values())
    assert "<script" not in rendered and "&lt;script&gt;alert(5)&lt;/script&gt;" in rendered
    assert rendered.count("alert(") == 1  # only the one the feed wrote as text
    assert any("javascript:alert(1)" in note for note in report.notes)
    assert files["second.md"][1].startswith("Only this stays.")


def test_html_page_instead_of_feed_exits_1_with_hint(project: Path) -> None:
    result = run(project, str(SOURCES / "page.html"), "--format", "feed")
    assert result.exit_code == 1
    assert "web page (HTML), not an RSS or Atom feed" in result.output
    assert "hint:" in result.output
    assert list((project / "content").iterdir()) == []


def test_truncated_feed_imports_what_it_could_read_and_says_so(project: Path) -> None:
    result = run(project, str(SOURCES / "truncated.xml"))
    assert result.exit_code == 0, result.output
    assert "not well-formed" in result.output
    assert "2 added" in result.output
    assert "entry 3: no summary or content" in result.output
    assert len(list((project / "content").glob("*.md"))) == 2
    no_leftovers(project / "content")


def test_garbage_feed_exits_1(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<?xml version='1.0'?><nonsense><", encoding="utf-8")
    result = run(project, str(bad))
    assert result.exit_code == 1
    assert "could not be read as an RSS or Atom feed" in result.output


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    body = (SOURCES / "feed.xml").read_bytes()
    etag = '"v1"'
    requests: list[dict[str, str]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_GET(self) -> None:
        type(self).requests.append(dict(self.headers))
        if self.path == "/big.xml":
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            chunk = b"<!-- " + b"x" * 65536 + b" -->\n"
            try:
                for _ in range(400):  # 26 MB, no Content-Length
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if self.headers.get("If-None-Match") == self.etag:
            self.send_response(304)
            self.send_header("ETag", self.etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", self.etag)
        self.send_header("Last-Modified", "Tue, 04 Mar 2025 08:00:00 GMT")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def feed_server() -> Iterator[str]:
    _FeedHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_feed_over_http_with_conditional_get(feed_server: str, tmp_path: Path) -> None:
    url = f"{feed_server}/feed.xml"
    first = import_source(url, tmp_path)
    assert len(first.written) == 3
    assert first.etag == '"v1"'
    assert first.last_modified == "Tue, 04 Mar 2025 08:00:00 GMT"
    meta = excerpts(tmp_path)["caching-is-the-cheapest-speed-up.md"][0]
    assert meta["imported_from"] == f"feed:{url}"
    assert _FeedHandler.requests[0]["User-Agent"] == "newsletter-digest/0.1"

    fetched = fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert fetched.not_modified and fetched.body == b""
    second = import_source(url, tmp_path, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified
    assert second.written == () and second.duplicates == ()
    assert _FeedHandler.requests[-1]["If-None-Match"] == '"v1"'
    assert len(list(tmp_path.glob("*.md"))) == 3


def test_feed_url_over_the_size_cap_is_refused(feed_server: str) -> None:
    with pytest.raises(ContentError, match="larger than 10 MB"):
        fetch(f"{feed_server}/big.xml")
    with pytest.raises(ContentError, match="larger than 2 MB"):
        fetch(f"{feed_server}/big.xml", max_bytes=2 * 1024 * 1024)


def test_feed_url_through_the_cli(feed_server: str, project: Path) -> None:
    result = run(project, f"{feed_server}/feed.xml")
    assert result.exit_code == 0, result.output
    assert "(feed): 3 added" in result.output


# --- Kindle ------------------------------------------------------------------------------


def test_kindle_clippings_highlights_only_latest_edit_wins(project: Path) -> None:
    shutil.copy(SOURCES / "My Clippings.txt", project / "exports" / "My Clippings.txt")
    result = run(project, str(project / "exports" / "My Clippings.txt"))
    assert result.exit_code == 0, result.output
    assert "(kindle): 3 added, 0 duplicate, 3 skipped" in result.output
    assert "entry 2 (line 6): a bookmark, not a highlight" in result.output
    assert "a note, not a highlight" in result.output
    assert "earlier version of the highlight edited in entry 4" in result.output
    files = excerpts(project / "content")
    kahneman = [(m, b) for m, b in files.values() if m.get("author") == "Daniel Kahneman"]
    assert len(kahneman) == 1
    meta, body = kahneman[0]
    assert body.endswith("while you are thinking about it.")
    assert meta["book"] == meta["source"] == "Thinking, Fast and Slow"
    assert meta["location"] == "page 5, location 70-73"
    assert str(meta["highlighted"]) == "2025-03-04"
    assert meta["imported_from"] == "kindle:exports/My Clippings.txt"  # the file, by its path
    marcus = [m for m, _b in files.values() if m.get("author") == "Marcus Aurelius"]
    assert str(marcus[0]["highlighted"]) == "2025-03-05"  # US date format


@pytest.mark.parametrize(
    ("encoding", "newline"),
    [("utf-16", "\n"), ("utf-16-le", "\r\n"), ("utf-8-sig", "\r\n"), ("utf-8", "\r\n")],
)
def test_kindle_encodings_and_line_endings(tmp_path: Path, encoding: str, newline: str) -> None:
    text = (SOURCES / "My Clippings.txt").read_text(encoding="utf-8")
    data = text.replace("\n", newline).encode(encoding)
    if encoding == "utf-16-le":
        data = b"\xff\xfe" + data  # a BOM, as Kindle writes it
    source = tmp_path / "My Clippings.txt"
    source.write_bytes(data)
    content = tmp_path / "content"
    report = import_source(source, content)
    assert report.format == "kindle"
    assert len(report.written) == 3
    for _meta, body in excerpts(content).values():
        assert "\r" not in body and "\ufeff" not in body


@pytest.mark.parametrize("where", ["text", "book", "meta"])
def test_a_broken_byte_skips_only_its_clipping(project: Path, tmp_path: Path, where: str) -> None:
    """One invalid UTF-8 byte refused the whole file; now only its clipping is left out."""
    data = (SOURCES / "My Clippings.txt").read_bytes()
    target = {
        "text": b"Why spend your life",
        "book": b"The Pragmatic Programmer (Hunt, Andrew; Thomas, David)\n- Your Highlight",
        "meta": b"location 180-183 | Added on Monday",
    }[where]
    assert data.count(target) == 1
    broken = tmp_path / "My Clippings.txt"
    broken.write_bytes(data.replace(target, target[:8] + b"\xff" + target[8:]))
    result = run(project, str(broken))
    assert result.exit_code == 0, result.output
    assert "entry 1 (line 1): not valid UTF-8 (a broken byte in it)" in result.output
    assert "(kindle): 2 added" in result.output
    assert "\ufffd" not in "".join(p.read_text() for p in (project / "content").glob("*.md"))


# --- CSV exports -------------------------------------------------------------------------


def test_readwise_csv(project: Path) -> None:
    shutil.copy(SOURCES / "readwise.csv", project / "readwise.csv")
    result = run(project, str(project / "readwise.csv"))
    assert result.exit_code == 0, result.output
    assert "(readwise): 3 added, 0 duplicate, 1 skipped" in result.output
    assert "line 5: no highlight text" in result.output
    files = excerpts(project / "content")
    meta, body = files["the-best-way-to-get-a-good-idea-is-to-get-a-lot-of-ideas.md"]
    assert body == "The best way to get a good idea is to get a lot of ideas."
    assert meta["tags"] == ["creativity", "ideas"]
    assert meta["author"] == "David Epstein"
    assert meta["book"] == "Range"
    assert meta["location"] == "location 1523"
    assert str(meta["highlighted"]) == "2024-11-02"
    assert meta["imported_from"] == "readwise:readwise.csv"
    assert any(
        b.startswith('Learning is most effective when it is "desirably difficult".')
        for _m, b in files.values()
    )


def test_instapaper_csv(project: Path) -> None:
    shutil.copy(SOURCES / "instapaper.csv", project / "instapaper.csv")
    result = run(project, str(project / "instapaper.csv"))
    assert result.exit_code == 0, result.output
    assert "(instapaper): 2 added, 0 duplicate, 1 skipped" in result.output
    assert "line 4: no selection" in result.output
    meta, body = excerpts(project / "content")["the-attention-economy.md"]
    assert body.startswith("Attention is the scarcest resource")
    assert meta["url"] == "https://www.example.com/essays/attention"
    assert meta["source"] == "example.com"
    assert str(meta["highlighted"]) == "2024-03-03"
    assert meta["imported_from"] == "instapaper:instapaper.csv"


def test_csv_without_the_highlight_column_names_it(project: Path) -> None:
    result = run(project, str(SOURCES / "readwise-no-highlight.csv"))
    assert result.exit_code == 1
    assert "no 'Highlight' column" in result.output
    assert "hint:" in result.output
    assert list((project / "content").iterdir()) == []


def test_csv_without_optional_columns_imports_and_names_them(project: Path) -> None:
    result = run(project, str(SOURCES / "readwise-no-author.csv"))
    assert result.exit_code == 0, result.output
    assert "'Book Author'" in result.output
    assert "1 added" in result.output


def test_format_detection() -> None:
    def detect(name: str) -> str:
        return detect_format(name, (SOURCES / name).read_bytes())

    assert detect("feed.xml") == "feed"
    assert detect("My Clippings.txt") == "kindle"
    assert detect("readwise.csv") == "readwise"
    assert detect("instapaper.csv") == "instapaper"
    assert detect_format("https://example.org/feed", b"") == "feed"
    assert detect_format("teasers.txt", b"Caching is cheap...\n") == "teasers"
    assert detect_format("post.md", b"# Hi\n") == "markdown"


# --- duplicates and re-import ------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["feed.xml", "My Clippings.txt", "readwise.csv", "instapaper.csv", "atom.xml"]
)
def test_reimport_adds_nothing(project: Path, name: str) -> None:
    first = run(project, str(SOURCES / name))
    assert first.exit_code == 0, first.output
    count = len(list((project / "content").glob("*.md")))
    again = run(project, str(SOURCES / name))
    assert again.exit_code == 0, again.output
    assert " 0 added" in again.output
    assert f"{count} duplicate" in again.output
    assert len(list((project / "content").glob("*.md"))) == count


def test_overlapping_exports_add_nothing_twice(tmp_path: Path) -> None:
    content = tmp_path / "content"
    import_source(SOURCES / "readwise.csv", content)
    overlap = tmp_path / "later.csv"
    overlap.write_text(
        "Highlight,Book Title,Book Author\n"
        "LEARNING is most effective  when it is \u201cdesirably difficult\u201d...,Range,D\n"
        "A new highlight.,Range,D\n"
        "A new highlight...,Range,D\n",
        encoding="utf-8",
    )
    report = import_source(overlap, content, format="readwise")
    assert len(report.written) == 1
    assert len(report.duplicates) == 2


def test_teasers_stay_the_default_for_text_files(project: Path, tmp_path: Path) -> None:
    teasers = tmp_path / "teasers.txt"
    teasers.write_text("Queues are not a silver bullet.\nThey move the problem somewh...\n")
    result = run(project, str(teasers))
    assert result.exit_code == 0, result.output
    assert "(teasers): 1 added" in result.output


_QUOTE_PAIRS = [("'", "\u2019"), ('"', "\u201c"), ('"', "\u201d"), ("'", "\u2018")]


@given(st.text(max_size=200))
def test_dedupe_key_is_idempotent(text: str) -> None:
    key = dedupe_key(text)
    assert dedupe_key(key) == key


@given(
    st.text(
        alphabet=st.characters(codec="latin-1", categories=["L", "N", "P", "Zs"]),
        min_size=1,
        max_size=80,
    ),
    st.sampled_from(["", "…", "...", " …", " ..."]),
    st.sampled_from(_QUOTE_PAIRS),
)
def test_dedupe_key_ignores_case_space_quotes_ellipsis(
    text: str, ellipsis: str, quotes: tuple[str, str]
) -> None:
    straight, curly = quotes
    variant = "  " + text.upper().replace(" ", " \n\t ").replace(straight, curly) + ellipsis
    assert dedupe_key(variant) == dedupe_key(text)


# --- size limits and speed ---------------------------------------------------------------


@pytest.mark.parametrize(("setting", "size_mb", "limit"), [("", 100, "10"), ("1.5", 2, "1.5")])
def test_source_over_the_size_cap_is_refused_unread(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    size_mb: int,
    limit: str,
) -> None:
    """A 100 MB feed file took 78 s and 605 MB; now the default cap (imports.max_mb, 10)
    refuses it unread, at once, and the setting moves the cap."""
    if setting:
        config = project / "digest.yaml"
        config.write_text(config.read_text() + f"imports:\n  max_mb: {setting}\n")
    huge = tmp_path / "huge.xml"
    with huge.open("wb") as handle:
        handle.truncate(size_mb * 1024 * 1024)  # sparse: no disk used
    opened: list[Path] = []
    real_open = Path.open

    def spy(self: Path, *args: object, **kwargs: object) -> object:
        opened.append(self)
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", spy)
    started = time.monotonic()
    result = run(project, str(huge))
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert f"is {size_mb} MB, over the {limit} MB limit for an import" in result.output
    assert "imports.max_mb" in result.output
    assert huge not in opened


def test_duplicates_are_summed_up_in_one_line(project: Path, tmp_path: Path) -> None:
    """A feed that repeats one entry 3,000 times says so once, not 2,999 times."""
    item = (
        "<item><title>Same</title><link>https://example.org/same</link>"
        "<description>The same words, again and again.</description></item>"
    )
    feed = tmp_path / "repeats.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Loop</title>'
        f"<link>https://example.org/</link>{item * 3000}</channel></rss>",
        encoding="utf-8",
    )
    result = run(project, str(feed))
    assert result.exit_code == 0, result.output
    assert "2,999 duplicates skipped" in result.output
    assert len(result.output.splitlines()) < 5, result.output[:500]
    again = run(project, str(feed))
    assert "3,000 duplicates skipped" in again.output


def test_ten_thousand_entries_import_whole(tmp_path: Path) -> None:
    """A feed of 10,000 entries imports every one (bench/bench_import.py times it)."""
    items = "".join(
        f"<item><title>Entry {i}</title><link>https://example.org/{i}</link>"
        f"<guid>https://example.org/{i}</guid><pubDate>Mon, 03 Mar 2025 09:15:02 GMT</pubDate>"
        f"<description>&lt;p&gt;Entry {i} says something &lt;b&gt;bold&lt;/b&gt;. "
        "More text follows here.&lt;/p&gt;</description></item>"
        for i in range(10_000)
    )
    feed = tmp_path / "big.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://example.org/</link>{items}</channel></rss>",
        encoding="utf-8",
    )
    content = tmp_path / "content"
    report = import_source(feed, content)
    assert len(report.written) == 10_000
    assert len(list(content.glob("*.md"))) == 10_000


def test_a_failed_write_leaves_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = tmp_path / "content"

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importer_base.os, "fsync", fail)
    with pytest.raises(ContentError, match="No space left"):
        import_source(SOURCES / "feed.xml", content)
    assert list(content.iterdir()) == []


def test_an_import_makes_its_files_and_their_folder_durable_without_syncing_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: a batch import flushed every disk of the machine (os.sync); it fsyncs the
    files it wrote and their folder instead."""
    content = tmp_path / "content"
    content.mkdir()
    synced: set[int] = set()  # inodes: a file is fsynced under its temporary name
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.add(os.fstat(fd).st_ino)
        real_fsync(fd)

    def sync() -> None:
        raise AssertionError("os.sync flushes every file system of the machine")

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "sync", sync)
    report = import_source(SOURCES / "feed.xml", content)
    assert len(report.written) > 1
    inodes = {path.stat().st_ino for path in report.written}
    assert synced >= inodes | {content.stat().st_ino}


def test_a_markdown_source_keeps_only_front_matter_the_loader_accepts(tmp_path: Path) -> None:
    source = tmp_path / "note.md"
    source.write_text("---\ntitle: A note\nurl: javascript:alert(1)\ntags: [a, b]\n---\nBody.\n")
    report = import_source(source, tmp_path / "content")
    (written,) = report.written
    text = written.read_text(encoding="utf-8")
    assert "javascript:" not in text and "- a" in text
    assert any("url" in note for note in report.notes)
    assert load_content(tmp_path / "content").problems == ()


def test_format_detection_survives_a_character_cut_at_64_kib(tmp_path: Path) -> None:
    """Detection reads the first 64 KiB; a curly quote split by that cut must not make a
    real Clippings file look like something else."""
    head = (SOURCES / "My Clippings.txt").read_text(encoding="utf-8-sig").encode()
    filler = b"x" * (65535 - len(head))  # the next character starts at byte 65535
    data = head + filler + "“quoted”".encode() * 10
    assert data[65535:65538] == "“".encode() and len(data) > 65536  # cut inside it
    assert detect_format("My Clippings.txt", data) == "kindle"


_TAGS = ["p", "a", "b", "script", "style", "iframe", "img", "svg", "div", "form", "object"]
_TAGS += ["abbr", "span", "mark"]
_ATTRS = [
    'href="javascript:alert(1)"',
    'href=" JaVaScRiPt:alert(2)"',
    'href="data:text/html,<script>alert(3)</script>"',
    'href="https://ok.example/x"',
    'href="/relative"',
    'src="x" onerror="alert(4)"',
    'onclick="alert(5)"',
    'style="background:url(javascript:alert(6))"',
    'title="![t](https://evil.example/pixel.gif)"',
    'title="[x](https://evil.example/)" lang="en"',
    "",
]


@st.composite
def hostile_html(draw: st.DrawFn, depth: int = 0) -> str:
    """Nested HTML from tags and attributes that carry script, with text between."""
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        if depth < 3 and draw(st.booleans()):
            tag, attr = draw(st.sampled_from(_TAGS)), draw(st.sampled_from(_ATTRS))
            inner = draw(hostile_html(depth + 1))
            parts.append(f"<{tag} {attr}>{inner}</{tag}>")
        else:
            words = ["words", "alert(7)", "&lt;b&gt;", "*x*", "[a](b)", "Hi!", "!", "\\"]
            parts.append(draw(st.sampled_from(words)))
    return draw(st.sampled_from([" ", ""])).join(parts)


@given(hostile_html())
@example('<p>Hi!<a href="https://ok.example/x">x</a></p>')  # "!" + link = an image
@example('<abbr title="![t](https://evil.example/pixel.gif)">TLA</abbr>')  # title as text
@example('<span lang="en" title="[x](https://evil.example/)">s</span>')
@example('<p><code>![c](https://ok.example/x)</code> Hi!<a href="https://ok.example/x">x</a></p>')
def test_no_feed_html_renders_as_script_or_a_script_link(fragment: str) -> None:
    """Whatever a feed's HTML holds, the excerpt it becomes renders with no element, attribute
    or link that could run script, and the only links left are absolute http(s) ones."""
    rendered = to_html(html_to_markdown(fragment)).lower()
    assert not re.search(r"<(script|style|iframe|img|svg|form|object)\b", rendered)
    assert "evil.example" not in rendered  # only in attributes the cleaning drops
    for tag in re.findall(r"<[^>]*>", rendered):  # words may say "javascript:"; tags may not
        assert "javascript:" not in tag and "data:" not in tag, tag
        assert not re.search(r"\son\w+\s*=", tag), tag
    for href in re.findall(r'href="([^"]*)"', rendered):
        assert href.startswith("https://ok.example/"), href
    for code in re.findall(r"<code>(.*?)</code>", rendered, re.S):  # code shows as typed
        assert "\\!" not in code


def test_kindle_pdf_highlights_by_page_edits_come_in_once_and_neighbours_stay(
    tmp_path: Path,
) -> None:
    """PDF highlights have a page and no location: an edit (most of its text shared) is
    one highlight; another passage on the same page is another."""
    entry = (
        "A Paper (Some One)\n- Your Highlight on page 4 | Added on {day} March 2025 10:00:00\n\n"
        "{text}\n==========\n"
    )
    source = clippings(
        tmp_path,
        entry,
        {"day": "Monday, 3", "text": "Small tools, well joined, outlast large ones"},
        {"day": "Monday, 3", "text": "Every table needs an owner."},
        {"day": "Tuesday, 4", "text": "Small tools, well joined, outlast large ones by decades."},
    )
    report = import_source(source, tmp_path / "content")
    bodies = sorted(body for _meta, body in excerpts(tmp_path / "content").values())
    assert bodies == [
        "Every table needs an owner.",
        "Small tools, well joined, outlast large ones by decades.",
    ]
    assert [s.reason for s in report.skipped] == [
        "an earlier version of the highlight edited in entry 3"
    ]


def test_atom_text_content_and_titles_with_markup(tmp_path: Path) -> None:
    """Content marked as text stays text ("<b>" is words), and a title's script is not
    read out as part of the title."""
    feed = tmp_path / "atom.xml"
    feed.write_text(
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        '<entry><title type="html">&lt;script&gt;alert(1)&lt;/script&gt;Plain &lt;b&gt;'
        'words&lt;/b&gt;</title><content type="text">Compare a &lt;b&gt; tag with a'
        " **star**.</content></entry></feed>",
        encoding="utf-8",
    )
    import_source(feed, tmp_path / "content")
    [(meta, body)] = excerpts(tmp_path / "content").values()
    assert meta["title"] == "Plain words"
    assert "&lt;b&gt; tag with a **star**." in to_html(body)


@pytest.mark.parametrize(
    "middle",
    [
        "see [a link whose text runs on](https://example.org/a) past the cut.",
        "**bold words past the cut**.",
    ],
)
def test_a_cut_never_splits_a_link_or_leaves_emphasis_open(middle: str) -> None:
    lead = "words with no sentence end " * 6  # so the cut falls back to a space
    cut = cut_at_sentence(lead + middle + " More follows. " * 20, len(lead) + 20)
    html = to_html(cut)
    assert cut.endswith("…") and "](" not in html and "**" not in html and "[" not in html


# Well-formed Markdown as html-to-markdown writes it, in pieces a cut can fall inside.
_PIECES = st.sampled_from(
    [
        "word",
        "word.",
        "Short one.",
        "[a link](https://example.org/a)",
        "[a link. With dots](https://example.org/b)",
        "[a long link whose text runs on and on](https://example.org/c)",
        "**bold words that run on a while**",
        "*italic words that run on*",
        "**bold with *italic inside it* and on**",
        "`code*with*stars and spaces`",
        "[link](https://example.org/x*y)",
        "**[A link](https://example.org/a)** and then",
        "**`foo` is a function**",
        "*see [this](https://example.org/t)* and",
        "***strong em** tail*",
        "``a` b``",
        "\n# A heading\n",
        "\n> A quote\n",
        "\n- an item\n",
        "\n2. an item\n",
        "[" + "a long link's words " * 40 + "](https://example.org/long)",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=60), st.integers(10, 200))
def test_a_cut_summary_renders_whole(pieces: list[str], max_len: int) -> None:
    """Wherever the cut falls, what is left renders with no Markdown showing as text (a
    split link, an unclosed code span or emphasis) and keeps words when there were any."""
    text = " ".join(pieces)
    cut = cut_at_sentence(text, max_len)
    if len(text) <= max_len:
        assert cut == text
        return
    html = to_html(cut)
    shown = re.sub(r"<code>.*?</code>", "", html, flags=re.S)  # code shows its text as typed
    assert cut.endswith("…") and len(cut) <= max_len * 5 // 4 + 10
    assert not re.search(r"<(h\d|blockquote|li)>…", html)  # no block holding only the "…"
    assert "](" not in shown and "**" not in shown and "`" not in shown
    assert "*" not in re.sub(r"<[^>]+>", "", shown), html
    assert re.search(r"\w", cut), (text, cut)


class _Shown(HTMLParser):
    """The text an HTML fragment shows, every run of white space one space."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.data: list[str] = []
        self.feed(html)
        self.close()

    def handle_data(self, data: str) -> None:
        self.data.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.data).split())


# Random CommonMark: words, spaces, line ends and every character that means something.
_COMMONMARK = st.lists(
    st.one_of(
        st.sampled_from(["word", "Word.", "two words", "1.", "a_b", "x!", "é", "…", "&amp;"]),
        st.sampled_from([*" \n*_`[]()<>!#-+=~\\&:;.\"'|>", "\n\n", "  \n", "    "]),
        st.sampled_from(
            [
                "https://example.org/a",
                "[t](https://example.org/t)",
                "![i](https://example.org/i.png)",
            ]
        ),
    ),
    min_size=1,
    max_size=120,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(_COMMONMARK, st.integers(1, 120))
def test_a_cut_summary_is_well_formed_for_any_commonmark(text: str, max_len: int) -> None:
    """Issue 26: the cut is written back from markdown-it's tokens. Whatever the Markdown,
    what the cut shows is the start of what the whole shows, then "…": no emphasis, code
    span, link or HTML it opens shows as syntax, and nothing is shown that was not."""
    cut = cut_at_sentence(text, max_len)
    if len(text) <= max_len:
        assert cut == text
        return
    assert cut.endswith("…")
    whole, shown = _Shown(to_html(text)).text, _Shown(to_html(cut)).text
    assert shown.endswith("…"), (text, cut)
    assert whole.startswith(shown.removesuffix("…").rstrip()), (text, cut, whole, shown)


def test_a_cut_of_a_hostile_summary_scans_only_near_the_cut() -> None:
    """200 KB of "[" (each could start a link) is cut without scanning to the end from
    each one: this finishes at once, where a whole-text search took minutes."""
    cut = cut_at_sentence(html_to_markdown("<p>x</p>" + "[" * 200_000), 600)
    assert len(cut) < 700 and cut.endswith("…")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ('<title type="text">Why x &lt;y matters</title>', "Why x <y matters"),
        ('<title type="html">One&lt;br&gt;Two &amp;amp; three</title>', "One Two & three"),
        ('<title type="html">&lt;p&gt;One&lt;/p&gt;&lt;p&gt;Two&lt;/p&gt;</title>', "One Two"),
    ],
)
def test_feed_titles_keep_their_words(tmp_path: Path, title: str, expected: str) -> None:
    """A text title is taken as it is (a "<" in it is a character); an HTML one gives its
    words, each tag a space."""
    feed = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        f"<entry>{title}<summary>A body.</summary></entry></feed>"
    )
    [item] = parse_feed(feed.encode(), "feed.xml").items
    assert item.title == expected


def test_kindle_neighbouring_highlights_that_only_touch_stay_apart(tmp_path: Path) -> None:
    """Kindle locations are coarse: three passages at 100-110, 110-120 and 120-130 are
    three highlights, not edits of one another."""
    entry = (
        "A Book (An Author)\n- Your Highlight on page 7 | location {span} | Added on "
        "Monday, 3 March 2025 10:00:00\n\n{text}\n==========\n"
    )
    source = clippings(
        tmp_path,
        entry,
        {"span": "100-110", "text": "The first paragraph is about rivers."},
        {"span": "110-120", "text": "A second one turns to the sea."},
        {"span": "120-130", "text": "And the third ends in the mountains."},
    )
    report = import_source(source, tmp_path / "content")
    assert len(report.written) == 3 and not report.skipped


def test_kindle_abbreviated_locations_of_older_devices(tmp_path: Path) -> None:
    """Older Kindles write "Loc. 1057-58" for 1057-1058: an edit there is still one."""
    entry = (
        "Old Book (Old Author)\n- Highlight Loc. {span}  | Added on Monday, 3 March 2014, "
        "10:00 AM\n\n{text}\n==========\n"
    )
    source = clippings(
        tmp_path,
        entry,
        {"span": "1057-58", "text": "An early version of the passage"},
        {"span": "1057-59", "text": "An early version of the passage, edited."},
    )
    report = import_source(source, tmp_path / "content", format="kindle")
    [(meta, body)] = excerpts(tmp_path / "content").values()
    assert body == "An early version of the passage, edited." and len(report.skipped) == 1
    assert meta["location"] == "location 1057-1059"


def test_an_edit_that_cannot_be_written_comes_in_new_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = (
        "A Book (An Author)\n- Your Highlight on page 7 | location {span} | Added on "
        "Monday, 3 March 2025 10:00:00\n\n{text}\n==========\n"
    )
    first = {"span": "10-12", "text": "A first version of it"}
    import_source(clippings(tmp_path, entry, first), tmp_path / "content")
    [before] = (tmp_path / "content").glob("*.md")
    text = before.read_text(encoding="utf-8")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(importer_base, "atomic_write", fail)
    edited = {"span": "10-13", "text": "A first version of it, edited."}
    report = import_source(clippings(tmp_path, entry, first, edited), tmp_path / "content")
    assert before.read_text(encoding="utf-8") == text  # as it was
    assert len(report.written) == 1 and not report.updated  # the edit is not lost
    assert any("Read-only file system" in note and before.name in note for note in report.notes)


# --- one file, one provenance (issue 23 section 3) -----------------------------------------


def test_importing_a_feed_url_again_costs_one_304(feed_server: str, project: Path) -> None:
    """A one-off import keeps the feed's ETag and Last-Modified as a source does."""
    url = f"{feed_server}/feed.xml"
    assert "(feed): 3 added" in run(project, url).output
    again = run(project, url)
    assert again.exit_code == 0, again.output
    assert "not modified since the last fetch" in again.output
    assert _FeedHandler.requests[-1].get("If-None-Match") == '"v1"'
    assert _FeedHandler.requests[-1].get("If-Modified-Since") == "Tue, 04 Mar 2025 08:00:00 GMT"
    assert len(list((project / "content").glob("*.md"))) == 3
    meta = excerpts(project / "content")["caching-is-the-cheapest-speed-up.md"][0]
    assert meta["imported_from"] == f"feed:{url}"


READWISE_NOTES = (
    "Highlight,Book Title,Book Author,Amazon Book ID,Note,Color,Tags,Location Type,Location,"
    "Highlighted at,Document tags\n"
    '"Care about your craft.",The Pragmatic Programmer,David Thomas;Andrew Hunt,,'
    '"{note}",,craft,location,180,2025-03-03 09:15:02+00:00,"programming, career"\n'
)


def test_a_readwise_note_stays_under_its_highlight_and_document_tags_become_tags(
    project: Path,
) -> None:
    export = project / "readwise.csv"
    export.write_text(READWISE_NOTES.format(note="Say it at every kickoff."), encoding="utf-8")
    assert "1 added" in run(project, str(export)).output
    [(name, (meta, body))] = excerpts(project / "content").items()
    assert body == "Care about your craft.\n\n**Note:** Say it at every kickoff."
    html = to_html(body)
    assert html.index("Care about your craft.") < html.index("<strong>Note:</strong> Say it")
    assert meta["tags"] == ["craft", "programming", "career"]
    assert meta["author"] == "David Thomas and Andrew Hunt"
    assert meta["title"] == "Care about your craft"
    again = run(project, str(export))  # the same export again: nothing twice
    assert " 0 added" in again.output and "1 duplicate" in again.output
    export.write_text(READWISE_NOTES.format(note="Say it twice."), encoding="utf-8")
    edited = run(project, str(export))  # the note changed in Readwise: taken in place
    assert " 0 added, 1 updated" in edited.output, edited.output
    assert excerpts(project / "content")[name][1].endswith("**Note:** Say it twice.")
    export.write_text(READWISE_NOTES.format(note=".focus .h1"), encoding="utf-8")
    tagging = tmp_content(project, export)  # a note of Readwise's inline tags: tags
    assert tagging == ("Care about your craft.", ["craft", "programming", "career", "focus"])


def tmp_content(project: Path, export: Path) -> tuple[str, object]:
    """The one excerpt ``export`` gives in a fresh content folder: its body and tags."""
    folder = project / "fresh"
    import_source(export, folder)
    [(meta, body)] = excerpts(folder).values()
    return body, meta.get("tags")


def test_kindle_joins_several_authors_as_a_reader_says_them(tmp_path: Path) -> None:
    import_source(SOURCES / "My Clippings.txt", tmp_path / "content")
    authors = {str(meta.get("author")) for meta, _b in excerpts(tmp_path / "content").values()}
    assert "Andrew Hunt and David Thomas" in authors  # "(Hunt, Andrew; Thomas, David)"
    assert "Marcus Aurelius" in authors


def test_overlapping_highlights_of_one_passage_come_in_once_across_imports(
    tmp_path: Path,
) -> None:
    """The device's clippings file was emptied between two imports: the wider highlight of
    a PDF page, and Readwise's copy of a Kindle highlight, are passages already in."""
    content = tmp_path / "content"
    pdf = "A Paper (Some One)\n- Your Highlight on page 4 | Added on {day} March 2025\n\n{text}\n"
    book = (
        "Thinking, Fast and Slow (Daniel Kahneman)\n- Your Highlight on page 5 | location "
        "70-73 | Added on Tuesday, 4 March 2025 21:02:45\n\n{text}\n"
    )
    source = tmp_path / "My Clippings.txt"
    source.write_text(
        pdf.format(day="Monday, 3", text="Small tools, well joined, outlast large ones")
        + "==========\n"
        + book.format(text="Nothing in life is as important as you think it is, while you.")
        + "==========\n",
        encoding="utf-8",
    )
    assert len(import_source(source, content).written) == 2
    source.write_text(
        pdf.format(day="Tuesday, 4", text="Small tools, well joined, outlast large ones by ages.")
        + "==========\n"
        + pdf.format(day="Tuesday, 4", text="Every table needs an owner.")
        + "==========\n",
        encoding="utf-8",
    )
    second = import_source(source, content)
    assert [p.name for p in second.written] == ["every-table-needs-an-owner.md"]
    assert [d for d in second.duplicates if "the same passage" in d]
    export = tmp_path / "readwise.csv"
    export.write_text(
        "Highlight,Book Title,Book Author,Location Type,Location\n"
        '"Nothing in life is as important as you think it is","Thinking, Fast and Slow",'
        "Daniel Kahneman,location,71\n",
        encoding="utf-8",
    )
    third = import_source(export, content)
    assert third.written == () and len(third.duplicates) == 1
    assert len(list(content.glob("*.md"))) == 3


def test_kindle_reads_one_author_as_it_reads_several(tmp_path: Path) -> None:
    """Kindle writes a single author "Last, First" too: an issue with "Andrew Hunt and David
    Thomas" beside "Fowler, Martin" reads as two conventions. A name of a company keeps its
    comma."""
    clippings = tmp_path / "My Clippings.txt"
    entry = (
        "{book}\n- Your Highlight on page 7 | Location 90-92 | Added on {day} March 2025\n\n"
        "{text}\n"
    )
    clippings.write_text(
        "==========\n".join(
            entry.format(book=book, day=day, text=text)
            for book, day, text in [
                ("Refactoring (Fowler, Martin)", 3, "Any fool can write code a computer reads."),
                ("The Pragmatic Programmer (Hunt, Andrew; Thomas, David)", 4, "Care about it."),
                ("Meditations (Marcus Aurelius)", 5, "You have power over your mind."),
                ("Annual Report (Example Media, Inc.)", 6, "We grew this year."),
            ]
        )
        + "==========\n",
        encoding="utf-8",
    )
    import_source(clippings, tmp_path / "content")
    authors = {str(meta.get("author")) for meta, _b in excerpts(tmp_path / "content").values()}
    assert authors == {
        "Martin Fowler",
        "Andrew Hunt and David Thomas",
        "Marcus Aurelius",
        "Example Media, Inc.",
    }
