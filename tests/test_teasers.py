"""Tests for importing plain-text teaser files into content/."""

from __future__ import annotations

import html
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from newsletter_digest.content.importers import import_source
from newsletter_digest.content.loading import load_content
from newsletter_digest.content.teasers import (
    finish_teaser,
    first_sentence_title,
    plain_to_markdown,
    slugify,
    split_teasers,
)
from newsletter_digest.errors import ContentError


class Imported(NamedTuple):
    written: tuple[Path, ...]
    skipped: tuple[str, ...]


def import_teasers(files: list[Path], content: Path, added: date | None = None) -> Imported:
    """Teaser files imported the way `digest import` does (the teasers format)."""
    written: list[Path] = []
    skipped: list[str] = []
    for path in files:
        report = import_source(path, content, format="teasers", added=added, base_dir=path.parent)
        written += report.written
        skipped += [*report.duplicates, *map(str, report.skipped)]
    return Imported(tuple(written), tuple(skipped))


def teaser_to_markdown(teaser: str, added: date | None = None) -> tuple[str, str]:
    """The file one teaser becomes: (its stem, its text)."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "one.txt"
        source.write_text(teaser, encoding="utf-8")
        (path,) = import_teasers([source], Path(folder) / "content", added).written
        return path.stem, path.read_text(encoding="utf-8")


SEED_LIKE = (
    "Every app outgrows its architecture. Deployments become risky, test...\n"
    "Most teams do.\n"
    "Because realistically:\n"
    "And if something existed… surely someone would’ve caught it\n"
    "Here’s the uncomfortab...\n"
    "\n"
    "We all hear this:\n"
    "And like every shift in history…\n"
    "it’s changing the w...\n"
    "There is a moment every engineer dreads. Traffic is climbing, ..."
)


def _body(file_text: str) -> str:
    """Return the body of an excerpt file's text."""
    return file_text.split("\n---\n", 1)[1].strip()


# --- splitting ---------------------------------------------------------------------------


def test_split_seed_format_multiline_and_both_ellipses() -> None:
    teasers = split_teasers(SEED_LIKE)
    assert teasers == [
        "Every app outgrows its architecture. Deployments become risky, test...",
        "Most teams do.\nBecause realistically:\n"
        "And if something existed… surely someone would’ve caught it\nHere’s the uncomfortab...",
        "We all hear this:\nAnd like every shift in history…\nit’s changing the w...",
        "There is a moment every engineer dreads. Traffic is climbing, ...",
    ]


def test_split_ends_teaser_on_unicode_ellipsis() -> None:
    assert split_teasers("First one ends here…\nSecond one…\n") == [
        "First one ends here…",
        "Second one…",
    ]


def test_split_lowercase_next_line_continues_the_teaser() -> None:
    assert split_teasers("In history…\nit goes on...\nNext...") == [
        "In history…\nit goes on...",
        "Next...",
    ]


def test_split_crlf_bom_and_blank_lines_between_teasers() -> None:
    text = "\ufeffOne\r\nstill one...\r\n\r\n\r\nTwo...\r\n\r\n"
    assert split_teasers(text) == ["One\nstill one...", "Two..."]


def test_split_keeps_paragraph_break_inside_a_teaser() -> None:
    assert split_teasers("Para one.\n\n\nPara two...") == ["Para one.\n\nPara two..."]


def test_split_trailing_text_without_ellipsis_is_last_teaser() -> None:
    assert split_teasers("A...\nB is not cut\nat all") == ["A...", "B is not cut\nat all"]


def test_split_empty_and_blank_input() -> None:
    assert split_teasers("") == []
    assert split_teasers("\n  \n\r\n") == []


@given(st.lists(st.text(alphabet="ab .…\n", max_size=30), max_size=8))
def test_split_never_loses_or_reorders_text(parts: list[str]) -> None:
    text = "\n".join(parts)
    words = [line.strip() for line in text.split("\n") if line.strip()]
    teasers = split_teasers(text)
    assert [line for t in teasers for line in t.split("\n") if line] == words


# --- finishing: the cut-off last word --------------------------------------------------------


@pytest.mark.parametrize(
    ("teaser", "finished"),
    [
        ("Deployments become risky, test...", "Deployments become risky…"),
        ("Here’s the uncomfortab...", "Here’s the…"),
        ("in history…", "in…"),
        ("Not fast,...", "Not fast…"),
        ("turning red, ...", "turning red…"),
        ("a complete word ...", "a complete word…"),
        ("Right?\nHere’s th...", "Right?\nHere’s…"),
        ("Right?\nUncomfortab...", "Right?…"),
        ("Hello...", "Hello…"),
        ("Not cut at all", "Not cut at all"),
    ],
)
def test_finish_drops_cut_off_word(teaser: str, finished: str) -> None:
    assert finish_teaser(teaser) == finished


# --- titles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Most teams do. Because realistically", "Most teams do"),
        ("Is it true? Maybe", "Is it true?"),
        ("Stop! Now", "Stop!"),
        ("We all hear this: AI will", "We all hear this"),
        ("First line without end\nsecond line.", "First line without end"),
        ("Latency fell by 99.8% in Node.js today. Yes", "Latency fell by 99.8% in Node.js today"),
        ("See https://example.com now", "See https://example.com now"),
        ("1. AI can write code. Fast", "1. AI can write code"),
        ("\n\n  Leading blank lines.", "Leading blank lines"),
        ("## A heading\nbody", "A heading"),
        ("1\\. escaped *markdown*\\\nnext", "1. escaped *markdown*"),
        ("", ""),
    ],
)
def test_first_sentence_title(text: str, title: str) -> None:
    assert first_sentence_title(text) == title


def test_long_title_is_cut_at_a_word_boundary_with_ellipsis() -> None:
    text = (
        "How I reduced API latency by 88%, achieved 99.8% uptime, and scaled a platform "
        "from 2,000 to 15,000 concurrent users without downtime."
    )
    title = first_sentence_title(text)
    assert (
        title == "How I reduced API latency by 88%, achieved 99.8% uptime, and scaled a platform…"
    )
    assert len(title) <= 80


def test_title_cut_exactly_before_a_space_keeps_the_whole_word() -> None:
    assert first_sentence_title("abcd efgh ijkl", max_len=10) == "abcd efgh…"
    assert first_sentence_title("abcd efghij kl", max_len=10) == "abcd…"
    assert first_sentence_title("abcdefghijklmnop", max_len=10) == "abcdefghi…"


# --- slugs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        (
            "I’ve spent my career fighting for clean code",
            "ive-spent-my-career-fighting-for-clean-code",
        ),
        ("Café déjà vu: Straße & Ærø!", "cafe-deja-vu-strasse-aero"),
        ("How I reduced API latency by 88%…", "how-i-reduced-api-latency-by-88"),
        ("日本語", "excerpt"),
        ("", "excerpt"),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_slug_is_cut_at_a_word_boundary() -> None:
    slug = slugify("word " * 30)
    assert len(slug) <= 60
    assert slug.endswith("word")
    assert "--" not in slug


# --- Markdown that renders like the plain text -------------------------------------------


def _rendered(markdown: str) -> str:
    return str(MarkdownIt("commonmark").render(markdown))


def test_plain_to_markdown_keeps_lines_as_hard_breaks() -> None:
    assert _rendered(plain_to_markdown("one\ntwo\n\nthree")) == (
        "<p>one<br />\ntwo</p>\n<p>three</p>\n"
    )


def test_plain_to_markdown_numbered_and_bulleted_lines_stay_text() -> None:
    text = "Two things:\n1. AI can write code fast… but think\n2) second\n- dash\n+ plus"
    html = _rendered(plain_to_markdown(text))
    assert "<ol" not in html
    assert "<ul" not in html
    assert "1. AI can write code fast… but think<br />" in html
    assert "2) second<br />" in html


@pytest.mark.parametrize(
    "line",
    [
        "# not a heading",
        "> not a quote",
        "---",
        "===",
        "* star",
        "`code` *em* _u_ [link](x) <b>tag</b> &amp; ~~del~~",
        "C:\\path\\",
        "    indented",
    ],
)
def test_plain_to_markdown_renders_the_same_characters(line: str) -> None:
    html = _rendered(plain_to_markdown("before\n" + line))
    escaped = line.strip().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert html == f"<p>before<br />\n{escaped}</p>\n"


_plain_line = (
    st.text(st.sampled_from([chr(c) for c in range(32, 127)] + list("…“”—é")), max_size=12)
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=500)
@given(st.lists(_plain_line, min_size=1, max_size=4))
def test_any_plain_text_renders_as_itself(lines: list[str]) -> None:
    markdown = plain_to_markdown("\n".join(lines))
    escaped = (html.escape(line).replace("&#x27;", "'") for line in lines)
    expected = "<p>" + "<br />\n".join(escaped) + "</p>\n"
    assert str(MarkdownIt("commonmark").enable("strikethrough").render(markdown)) == expected


def test_plain_to_markdown_leaves_hashtags_readable() -> None:
    assert plain_to_markdown("#python rocks") == "#python rocks"


# --- one teaser to one file ------------------------------------------------------------------


def test_teaser_to_markdown_front_matter_and_body() -> None:
    slug, text = teaser_to_markdown("Most teams do.\nHere’s the uncomfortab...")
    assert slug == "most-teams-do"
    assert text == (
        "---\ntitle: Most teams do\nimported_from: teasers:one.txt\n---\n\n"
        "Most teams do.\\\nHere’s the…\n"
    )


def test_teaser_to_markdown_with_added_date() -> None:
    _, text = teaser_to_markdown("Hello there.", added=date(2024, 5, 1))
    assert "\nadded: 2024-05-01\n" in text


def test_teaser_file_round_trips_through_the_loader(tmp_path: Path) -> None:
    teaser = 'Note: "quotes", #tags & a: colon\n- dash line\n1. item, ...'
    slug, text = teaser_to_markdown(teaser, added=date(2024, 5, 1))
    (tmp_path / f"{slug}.md").write_text(text, encoding="utf-8")
    loaded = load_content(tmp_path)
    assert loaded.problems == ()
    (excerpt,) = loaded.excerpts
    assert excerpt.title == "Note"
    assert excerpt.added == date(2024, 5, 1)
    assert _rendered(excerpt.body) == (
        "<p>Note: &quot;quotes&quot;, #tags &amp; a: colon<br />\n- dash line<br />\n1. item…</p>\n"
    )


def test_title_with_yaml_specials_is_quoted_in_front_matter(tmp_path: Path) -> None:
    slug, text = teaser_to_markdown("- [x] 'quoted' #1 yes...")
    (tmp_path / f"{slug}.md").write_text(text, encoding="utf-8")
    loaded = load_content(tmp_path)
    assert loaded.problems == ()
    assert loaded.excerpts[0].title == "- [x] 'quoted' #1…"


# --- importing files -------------------------------------------------------------------------


def _teaser_file(tmp_path: Path, text: str, name: str = "teasers.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_writes_one_file_per_teaser(tmp_path: Path) -> None:
    source = _teaser_file(tmp_path, SEED_LIKE)
    content = tmp_path / "content"
    result = import_teasers([source], content)
    assert [p.name for p in result.written] == [
        "every-app-outgrows-its-architecture.md",
        "most-teams-do.md",
        "we-all-hear-this.md",
        "there-is-a-moment-every-engineer-dreads.md",
    ]
    assert result.skipped == ()
    assert sorted(p.name for p in content.iterdir()) == sorted(p.name for p in result.written)
    loaded = load_content(content)
    assert loaded.problems == ()
    assert [e.title for e in loaded.excerpts][:2] == [
        "Every app outgrows its architecture",
        "Most teams do",
    ]


def test_import_files_get_normal_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        result = import_teasers([_teaser_file(tmp_path, "Hi there...")], tmp_path / "c")
    finally:
        os.umask(old)
    assert result.written[0].stat().st_mode & 0o777 == 0o644


def test_import_is_idempotent(tmp_path: Path) -> None:
    source = _teaser_file(tmp_path, SEED_LIKE)
    content = tmp_path / "content"
    first = import_teasers([source], content)
    before = {p.name: p.read_bytes() for p in content.iterdir()}
    again = import_teasers([source], content)
    assert again.written == ()
    assert len(again.skipped) == len(first.written)
    assert 'teaser 2 "Most teams do": already in most-teams-do.md' in again.skipped
    assert {p.name: p.read_bytes() for p in content.iterdir()} == before


def test_import_skips_a_teaser_whose_text_is_already_in_a_hand_written_file(
    tmp_path: Path,
) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "mine.md").write_text(
        "---\ntitle: My own title\nweight: 3\n---\n\nSame   text\\\nhere…\n", encoding="utf-8"
    )
    result = import_teasers([_teaser_file(tmp_path, "Same text\nhere ...")], content)
    assert result.written == ()
    assert result.skipped == ('teaser 1 "Same text": already in mine.md',)


def test_import_same_teaser_twice_in_one_file_writes_it_once(tmp_path: Path) -> None:
    result = import_teasers([_teaser_file(tmp_path, "Dup one...\nDup one...")], tmp_path / "c")
    assert len(result.written) == 1
    assert len(result.skipped) == 1


def test_import_slug_collisions_get_numbers(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "same-title.md").write_text("Other text entirely\n", encoding="utf-8")
    text = "Same title. First body...\nSame title. Second body...\nSame title. Third body..."
    result = import_teasers([_teaser_file(tmp_path, text)], content)
    assert [p.name for p in result.written] == [
        "same-title-2.md",
        "same-title-3.md",
        "same-title-4.md",
    ]
    assert (content / "same-title.md").read_text(encoding="utf-8") == "Other text entirely\n"


def test_import_leaves_no_temp_files(tmp_path: Path) -> None:
    content = tmp_path / "content"
    import_teasers([_teaser_file(tmp_path, SEED_LIKE)], content)
    assert [p.name for p in content.iterdir() if p.name.startswith(".")] == []


def test_import_multiple_files_in_order(tmp_path: Path) -> None:
    a = _teaser_file(tmp_path, "Alpha one ...", "a.txt")
    b = _teaser_file(tmp_path, "Beta two…\r\nBeta is cut...\r\n", "b.txt")
    result = import_teasers([a, b], tmp_path / "content")
    assert [p.name for p in result.written] == ["alpha-one.md", "beta.md", "beta-is.md"]


def test_import_non_utf8_file_names_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    """Each source imports on its own: a bad one writes nothing and says where it is bad."""
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"line one\nna\xefve caf\xe9...\n")
    content = tmp_path / "content"
    with pytest.raises(ContentError) as info:
        import_teasers([bad], content)
    assert "bad.txt:2" in info.value.message
    assert "UTF-8" in info.value.hint
    assert not content.exists() or list(content.iterdir()) == []


def test_import_missing_file_is_a_content_error(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as info:
        import_teasers([tmp_path / "nope.txt"], tmp_path / "content")
    assert "nope.txt" in info.value.message
    assert info.value.hint


def test_import_into_a_file_instead_of_a_folder_is_a_content_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "content"
    not_a_folder.write_text("x", encoding="utf-8")
    with pytest.raises(ContentError) as info:
        import_teasers([_teaser_file(tmp_path, "A...")], not_a_folder)
    assert "content" in info.value.message


def test_shipped_content_is_the_seed_import() -> None:
    content = Path(__file__).resolve().parents[1] / "content"
    loaded = load_content(content)
    assert loaded.problems == ()
    assert len(loaded.excerpts) >= 5
    for excerpt in loaded.excerpts:
        assert excerpt.id.startswith(slugify(excerpt.title))
        assert 0 < len(excerpt.title) <= 80
        assert excerpt.body.endswith("…")
