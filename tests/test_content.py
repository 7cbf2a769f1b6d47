"""Tests for loading content/: front matter, problems per bad file, and the parse cache."""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

import pytest

from newsletter_digest.content import cache as content_cache
from newsletter_digest.content import loading as content
from newsletter_digest.content.cache import ContentCache
from newsletter_digest.content.frontmatter import split_front_matter
from newsletter_digest.content.loading import load_content
from newsletter_digest.errors import ContentError
from newsletter_digest.models import Excerpt, Problem

HOUR_AGO_NS = time.time_ns() - 3600 * 1_000_000_000


def write(folder: Path, name: str, text: str | bytes, *, age_ns: int = HOUR_AGO_NS) -> Path:
    """Write a content file whose mtime is in the past (so the cache may keep it)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    os.utime(path, ns=(age_ns, age_ns))
    return path


def only_problem(folder: Path) -> Problem:
    """Load folder and return its single problem."""
    loaded = load_content(folder)
    assert len(loaded.problems) == 1, loaded.problems
    return loaded.problems[0]


# --- good files ------------------------------------------------------------------------------


def test_full_front_matter(tmp_path: Path) -> None:
    write(
        tmp_path,
        "cache-talk.md",
        "---\n"
        "title: Caching, properly\n"
        "url: https://example.com/cache?x=1\n"
        "author: Ada\n"
        "source: Blog\n"
        "tags: [db, 'perf']\n"
        "weight: 3\n"
        "added: 2024-05-01\n"
        "active: false\n"
        "---\n\n"
        "  The body.\n\n",
    )
    loaded = load_content(tmp_path)
    assert loaded.problems == ()
    assert loaded.excerpts == (
        Excerpt(
            id="cache-talk",
            title="Caching, properly",
            body="The body.",
            path=tmp_path / "cache-talk.md",
            url="https://example.com/cache?x=1",
            author="Ada",
            source="Blog",
            tags=("db", "perf"),
            weight=3,
            added=date(2024, 5, 1),
            active=False,
        ),
    )


def test_no_front_matter_title_from_first_sentence(tmp_path: Path) -> None:
    write(tmp_path, "plain.md", "\nThe database is the bottleneck. Not the network.\n")
    (excerpt,) = load_content(tmp_path).excerpts
    assert excerpt.id == "plain"
    assert excerpt.title == "The database is the bottleneck"
    assert excerpt.body == "The database is the bottleneck. Not the network."
    assert (excerpt.url, excerpt.tags, excerpt.weight, excerpt.added, excerpt.active) == (
        None,
        (),
        1,
        None,
        True,
    )


def test_title_falls_back_to_file_stem_when_body_has_no_words(tmp_path: Path) -> None:
    write(tmp_path, "dots.md", "...\n")
    assert load_content(tmp_path).excerpts[0].title == "..."
    write(tmp_path, "dots.md", "\\\n")
    assert load_content(tmp_path).excerpts[0].title == "dots"


def test_comma_separated_tags_and_block_list(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\ntags: db, perf , ,db\n---\nA")
    write(tmp_path, "b.md", "---\ntags:\n  - one\n  - two words\n---\nB")
    a, b = load_content(tmp_path).excerpts
    assert a.tags == ("db", "perf")
    assert b.tags == ("one", "two words")


def test_empty_values_mean_unset(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\ntitle:\nurl: ''\nweight:\n---\nBody here.")
    (excerpt,) = load_content(tmp_path).excerpts
    assert (excerpt.title, excerpt.url, excerpt.weight) == ("Body here", None, 1)


def test_empty_front_matter(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\n---\nBody.")
    assert load_content(tmp_path).excerpts[0].body == "Body."


def test_only_visible_md_files_sorted_by_name(tmp_path: Path) -> None:
    for name in ("b.md", "a.md", "c.MD", "notes.txt", ".hidden.md", ".md", "sub/d.md"):
        write(tmp_path, name, f"Text of {name}.")
    (tmp_path / "folder.md").mkdir()
    loaded = load_content(tmp_path)
    assert [e.id for e in loaded.excerpts] == ["a", "b"]
    assert loaded.problems == ()


def test_crlf_and_bom(tmp_path: Path) -> None:
    write(tmp_path, "a.md", b"\xef\xbb\xbf---\r\ntitle: T\r\n---\r\nLine one\r\nLine two\r\n")
    (excerpt,) = load_content(tmp_path).excerpts
    assert excerpt.title == "T"
    assert excerpt.body == "Line one\nLine two"


def test_mailto_and_uppercase_scheme_urls_are_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\nurl: mailto:me@example.com\n---\nA")
    write(tmp_path, "b.md", "---\nurl: HTTPS://example.com\n---\nB")
    loaded = load_content(tmp_path)
    assert loaded.problems == ()
    assert [e.url for e in loaded.excerpts] == ["mailto:me@example.com", "HTTPS://example.com"]


def test_dashes_that_are_not_a_front_matter_fence_are_body(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "----\nNot front matter.\n")
    assert load_content(tmp_path).excerpts[0].body == "----\nNot front matter."


# --- bad files: each is left out with a problem, the rest load ------------------------------


def test_broken_yaml_reports_the_line_in_the_file(tmp_path: Path) -> None:
    write(tmp_path, "good.md", "Fine.")
    write(tmp_path, "bad.md", "---\ntitle: ok\ntags: [a, b\nweight: 2\n---\nBody")
    loaded = load_content(tmp_path)
    assert [e.id for e in loaded.excerpts] == ["good"]
    (problem,) = loaded.problems
    assert problem.path == tmp_path / "bad.md"
    assert "not valid YAML" in problem.message
    # The unclosed "[" is on file line 3; PyYAML notices at the next line at the latest.
    assert problem.line in (3, 4, 5)
    assert str(problem).startswith(f"{tmp_path / 'bad.md'}:{problem.line}: ")


def test_yaml_error_line_counts_the_opening_fence(tmp_path: Path) -> None:
    write(tmp_path, "bad.md", "---\ntitle: ok\nauthor: x\nsource: a: b\n---\nBody")
    problem = only_problem(tmp_path)
    assert problem.line == 4
    assert "quote the value" in problem.message


def test_unclosed_front_matter(tmp_path: Path) -> None:
    write(tmp_path, "bad.md", "---\ntitle: Forgot to close\n\nBody text.\n")
    write(tmp_path, "z.md", "Fine.")
    loaded = load_content(tmp_path)
    assert [e.id for e in loaded.excerpts] == ["z"]
    assert loaded.problems == (
        Problem(
            tmp_path / "bad.md",
            "front matter starts with '---' but has no closing '---' line; "
            "add one after the last 'key: value' line",
            1,
        ),
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [("", 1), ("  \n\n", 1), ("---\ntitle: x\n---\n", 4), ("---\ntitle: x\n---\n \n\n", 4)],
)
def test_empty_body(tmp_path: Path, text: str, line: int) -> None:
    write(tmp_path, "empty.md", text)
    problem = only_problem(tmp_path)
    assert problem.line == line
    assert "no text" in problem.message


def test_invalid_utf8_names_byte_and_line(tmp_path: Path) -> None:
    write(tmp_path, "latin1.md", b"---\ntitle: ok\n---\ncaf\xe9 au lait\n")
    write(tmp_path, "ok.md", "Fine.")
    loaded = load_content(tmp_path)
    assert [e.id for e in loaded.excerpts] == ["ok"]
    (problem,) = loaded.problems
    assert problem.path == tmp_path / "latin1.md"
    assert problem.line == 4
    assert "offset 21 (0xe9) on line 4" in problem.message
    assert "UTF-8" in problem.message


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ("weight: heavy", "weight", "whole number of at least 1"),
        ("weight: 0", "weight", "whole number of at least 1"),
        ("weight: true", "weight", "whole number of at least 1"),
        ("active: maybe", "active", "true or false"),
        ("added: yesterday", "added", "YYYY-MM-DD"),
        ("tags: 5", "tags", "list of text"),
        ("tags: [a, 5]", "tags", "list of text"),
        ("tags: {a: 1}", "tags", "list of text"),
        ("title: 2024", "title", "must be text, not a number"),
        ("author: [x]", "author", "must be text, not a list"),
        ("url: javascript:alert(1)", "url", "'javascript:'"),
        ("url: ftp://example.com", "url", "http://, https:// or mailto:"),
        ("url: example.com/page", "url", "no scheme"),
        ("url: https:///path", "url", "no host"),
        ("url: 'https://example.com/a b'", "url", "spaces"),
        ("url: 'mailto:'", "url", "no address"),
    ],
)
def test_bad_field_names_key_line_and_expectation(
    tmp_path: Path, line: str, key: str, expected: str
) -> None:
    write(tmp_path, "bad.md", f"---\ntitle_ok_line: 1\n{line}\n---\nBody")
    write(tmp_path, "good.md", "Fine.")
    loaded = load_content(tmp_path)
    assert [e.id for e in loaded.excerpts] == ["good"]
    problems = [p for p in loaded.problems if f"'{key}'" in p.message]
    assert len(problems) == 1, loaded.problems
    assert problems[0].line == 3
    assert expected in problems[0].message


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    write(tmp_path, "typo.md", "---\ntitle: T\nactiv: false\n---\nBody")
    problem = only_problem(tmp_path)
    assert problem.line == 3
    assert "unknown front matter key 'activ': did you mean 'active'?" in problem.message


def test_unknown_key_without_close_match(tmp_path: Path) -> None:
    write(tmp_path, "typo.md", "---\nzzz: 1\n---\nBody")
    assert "remove it" in only_problem(tmp_path).message


def test_every_bad_key_of_a_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "bad.md", "---\nweight: x\nactive: 2\ntitel: T\n---\nBody")
    loaded = load_content(tmp_path)
    assert [p.line for p in loaded.problems] == [2, 3, 4]


def test_front_matter_that_is_not_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, "list.md", "---\n- a\n- b\n---\nBody")
    problem = only_problem(tmp_path)
    assert "'key: value' lines" in problem.message
    assert problem.line == 2


def test_impossible_date(tmp_path: Path) -> None:
    write(tmp_path, "date.md", "---\ntitle: On 2024-02-28\nadded: 2024-02-30\n---\nBody")
    problem = only_problem(tmp_path)
    assert "impossible date" in problem.message
    assert problem.line == 3


def test_non_string_key(tmp_path: Path) -> None:
    write(tmp_path, "key.md", "---\n1: one\n---\nBody")
    assert "must be a name" in only_problem(tmp_path).message


def test_unsafe_yaml_tags_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "evil.md", "---\ntitle: !!python/object/apply:os.system ['true']\n---\nBody")
    problem = only_problem(tmp_path)
    assert "not valid YAML" in problem.message
    assert problem.line == 2


def test_missing_folder_is_a_content_error(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as info:
        load_content(tmp_path / "nope")
    assert "nope" in info.value.message
    assert "create it" in info.value.hint


def test_file_instead_of_folder_is_a_content_error(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as info:
        load_content(write(tmp_path, "a.md", "x"))
    assert "not a folder" in info.value.message
    assert info.value.hint


# --- fast front matter reader agrees with PyYAML -------------------------------------------


def test_common_front_matter_forms_load(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\ntitle: 'It''s fine'\nadded: 2024-05-01\nweight: 2\n---\nBody")
    write(tmp_path, "b.md", '---\n# comment\ntitle: "Q: a"\nactive: no\n\n---\nBody')
    write(tmp_path, "c.md", "---\ntags: [a, 'b c']\nurl: https://x.org\nmore:\n  - x\n---\nC")
    write(tmp_path, "d.md", "---\ntags:\n  - one\n  - 'two'\nweight: 1\n---\nD")
    loaded = load_content(tmp_path)
    a, b, d = loaded.excerpts
    assert (a.weight, a.added) == (2, date(2024, 5, 1))
    assert (b.title, b.active) == ("Q: a", False)
    assert d.tags == ("one", "two")
    assert "unknown front matter key 'more'" in loaded.problems[0].message
    assert loaded.problems[0].line == 4


def test_split_front_matter_reports_body_line() -> None:
    assert split_front_matter("---\na: 1\nb: 2\n---\nbody") == ("a: 1\nb: 2\n", "body", 5)
    assert split_front_matter("no fence") == (None, "no fence", 1)
    with pytest.raises(ValueError):
        split_front_matter("---\na: 1\n")


# --- cache -----------------------------------------------------------------------------------


class ParseCounter:
    """Wraps content._parse to count which files get parsed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        real = content._parse

        def counting(data: bytes, path: Path, stem: str) -> Excerpt:
            self.names.append(path.name)
            return real(data, path, stem)

        monkeypatch.setattr(content, "_parse", counting)

    def take(self) -> list[str]:
        names, self.names = sorted(self.names), []
        return names


def test_cache_skips_unchanged_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, cache = tmp_path / "content", tmp_path / ".digest" / "cache.json"
    write(folder, "a.md", "---\ntitle: A\ntags: x, y\nadded: 2024-01-02\n---\nBody A")
    write(folder, "b.md", "---\nweight: nope\n---\nBody B")
    counter = ParseCounter(monkeypatch)
    cold = load_content(folder, ContentCache(cache))
    assert counter.take() == ["a.md", "b.md"]
    assert cache.exists()
    warm = load_content(folder, ContentCache(cache))
    assert counter.take() == []
    assert warm == cold
    assert warm.problems[0].line == 2


def test_cache_rereads_a_changed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, cache = tmp_path / "content", tmp_path / "cache.json"
    write(folder, "a.md", "Old text.")
    write(folder, "b.md", "Other.")
    load_content(folder, ContentCache(cache))
    counter = ParseCounter(monkeypatch)
    write(folder, "a.md", "New text.", age_ns=HOUR_AGO_NS + 1_000_000_000)
    loaded = load_content(folder, ContentCache(cache))
    assert counter.take() == ["a.md"]
    assert loaded.excerpts[0].body == "New text."


def test_cache_same_mtime_but_different_size_is_reread(tmp_path: Path) -> None:
    folder, cache = tmp_path / "content", tmp_path / "cache.json"
    write(folder, "a.md", "Old.")
    load_content(folder, ContentCache(cache))
    write(folder, "a.md", "Longer new.")
    assert load_content(folder, ContentCache(cache)).excerpts[0].body == "Longer new."


def test_cache_drops_deleted_and_adds_new_files(tmp_path: Path) -> None:
    folder, cache = tmp_path / "content", tmp_path / "cache.json"
    write(folder, "a.md", "A.")
    write(folder, "b.md", "B.")
    load_content(folder, ContentCache(cache))
    (folder / "a.md").unlink()
    write(folder, "c.md", "C.")
    assert [e.id for e in load_content(folder, ContentCache(cache)).excerpts] == ["b", "c"]
    kept = set(json.loads(cache.read_text(encoding="utf-8"))["entries"])
    assert kept == {str((folder / name).absolute()) for name in ("b.md", "c.md")}


def test_cache_is_written_only_when_something_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, cache = tmp_path / "content", tmp_path / "cache.json"
    write(folder, "a.md", "A.")
    writes: list[Path] = []
    real_write = content_cache.save_cache

    def counting(path: Path, data: bytes) -> None:
        writes.append(path)
        real_write(path, data)

    monkeypatch.setattr(content_cache, "save_cache", counting)
    load_content(folder, ContentCache(cache))
    load_content(folder, ContentCache(cache))
    load_content(folder, ContentCache(cache))
    assert len(writes) == 1
    (folder / "a.md").unlink()
    load_content(folder, ContentCache(cache))
    assert len(writes) == 2


def test_recently_modified_files_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, cache = tmp_path / "content", tmp_path / "cache.json"
    write(folder, "old.md", "Old.")
    write(folder, "new.md", "New.", age_ns=time.time_ns())
    load_content(folder, ContentCache(cache))
    counter = ParseCounter(monkeypatch)
    load_content(folder, ContentCache(cache))
    assert counter.take() == ["new.md"]


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x80\x81 not json",
        b"[1, 2]",
        b'{"version": 999, "entries": {}}',
        b'{"version": 2, "entries": {"FILE": {STAMP, "title": 1, "body": "B"}}}',
        b'{"version": 2, "entries": {"FILE": {STAMP, "title": "T", "body": "B", "x": 1}}}',
        b'{"version": 2, "entries": {"FILE": {STAMP, "title": "T", "body": "B", "added": 5}}}',
        b'{"version": 2, "entries": {"FILE": {STAMP, "title": "T"}}}',
        b'{"version": 2, "entries": {"FILE": {STAMP, "problems": [7]}}}',
        b'{"version": 2, "entries": {"FILE": {"mtime_ns": 1}}}',
        b'{"version": 2, "entries": {"FILE": "MTIME"}}',
        b'{"version": 1, "folder": "FOLDER", "entries": {"a.md": [1, 2, ["e"]]}}',
    ],
)
def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path: Path, garbage: bytes) -> None:
    folder, cache = tmp_path / "content", tmp_path / "cache.json"
    path = write(folder, "a.md", "---\ntitle: T\n---\nBody.")
    expected = load_content(folder)
    stamp = f'"mtime_ns": {path.stat().st_mtime_ns}, "size": {path.stat().st_size}'.encode()
    garbage = garbage.replace(b"FOLDER", str(folder).encode()).replace(b"STAMP", stamp)
    cache.write_bytes(garbage.replace(b"FILE", str(path.absolute()).encode()))
    assert load_content(folder, ContentCache(cache)) == expected
    assert json.loads(cache.read_text(encoding="utf-8"))["version"] == content_cache.VERSION
    assert load_content(folder, ContentCache(cache)) == expected


def test_cache_entry_with_wrong_types_is_reparsed(tmp_path: Path) -> None:
    folder, cache = tmp_path / "content", tmp_path / "cache.json"
    path = write(folder, "a.md", "Real body.")
    load_content(folder, ContentCache(cache))
    data = json.loads(cache.read_text(encoding="utf-8"))
    data["entries"][str(path.absolute())]["title"] = 42  # no longer text
    cache.write_text(json.dumps(data), encoding="utf-8")
    os.utime(path, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    assert load_content(folder, ContentCache(cache)).excerpts[0].title == "Real body"


def test_cache_of_another_folder_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    write(tmp_path / "one", "a.md", "One.")
    write(tmp_path / "two", "a.md", "Two.")
    load_content(tmp_path / "one", ContentCache(cache))
    assert load_content(tmp_path / "two", ContentCache(cache)).excerpts[0].body == "Two."


def test_unwritable_cache_does_not_fail_the_load(tmp_path: Path) -> None:
    folder = tmp_path / "content"
    write(folder, "a.md", "A.")
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    assert len(load_content(folder, ContentCache(blocker / "cache.json")).excerpts) == 1


def test_cache_write_leaves_no_temp_files(tmp_path: Path) -> None:
    folder, cache_dir = tmp_path / "content", tmp_path / "cache"
    write(folder, "a.md", "A.")
    load_content(folder, ContentCache(cache_dir / "c.json"))
    assert [p.name for p in cache_dir.iterdir()] == ["c.json"]


def test_control_characters_are_dropped_so_one_excerpt_cannot_break_an_issue(
    tmp_path: Path,
) -> None:
    (tmp_path / "junk.md").write_bytes(
        b"---\ntitle: Form\x0cfeed\n---\nA body with \x0b, \x1b[31m and \x7f in it.\n"
    )
    loaded = load_content(tmp_path)
    assert loaded.problems == ()
    (excerpt,) = loaded.excerpts
    assert excerpt.title == "Formfeed"
    assert excerpt.body == "A body with , [31m and  in it."


def test_loading_leaves_the_cycle_collector_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: loading switched Python's cycle collector off and on, a start-up trick
    worth a few per cent of a cold load that the parsed-content cache makes moot."""
    import gc

    def refuse() -> None:
        raise AssertionError("gc.disable() called")

    write(tmp_path, "a.md", "A.")
    monkeypatch.setattr(gc, "disable", refuse)
    assert [e.id for e in load_content(tmp_path, ContentCache(tmp_path / "c.json")).excerpts] == [
        "a"
    ]
