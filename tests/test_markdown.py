"""Excerpt bodies: safe Markdown to HTML, and readable plain text for the text part."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from newsletter_digest.markdown import (
    _plain_prose,
    is_safe_url,
    parse_and_render,
    render,
    to_html,
    to_text,
)


def test_basic_markdown_renders() -> None:
    html = to_html("Hello *world* and **you**.\n\n- one\n- two")
    assert "<em>world</em>" in html
    assert "<strong>you</strong>" in html
    assert "<ul>" in html
    assert "<li>two</li>" in html


def test_raw_html_becomes_text() -> None:
    html = to_html('Hi <script>alert("x")</script> <b onclick="x()">bold</b>\n\n<div>block</div>')
    assert "<script" not in html
    assert "<b " not in html
    assert "<div>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;div&gt;block&lt;/div&gt;" in html


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "/relative/path",
        "#anchor",
        "ftp://example.org/file",
    ],
)
def test_unsafe_link_renders_as_its_text_only(href: str) -> None:
    html = to_html(f"Click [here]({href}) now.")
    assert "<a" not in html
    assert "here" in html
    assert "javascript" not in html.lower()
    assert to_text(f"Click [here]({href}) now.") == "Click here now."


def test_unsafe_reference_and_autolinks_are_dropped() -> None:
    html = to_html("[ref][bad] <javascript:alert(1)>\n\n[bad]: javascript:alert(1)")
    assert "<a" not in html


@pytest.mark.parametrize(
    "href", ["https://example.org/a?b=1&c=2", "http://example.org", "mailto:me@example.org"]
)
def test_safe_links_survive(href: str) -> None:
    html = to_html(f"[link]({href})")
    assert '<a href="' in html
    assert href.replace("&", "&amp;") in html


def test_images_only_from_http() -> None:
    html = to_html("![A chart](https://example.org/c.png) ![Local](file:///x.png)")
    assert '<img src="https://example.org/c.png" alt="A chart"' in html
    assert "file:" not in html
    assert "Local" in html
    assert "mailto" not in to_html("![x](mailto:a@example.org)")


def test_is_safe_url() -> None:
    assert is_safe_url("https://example.org/x")
    assert is_safe_url("mailto:someone@example.org")
    assert not is_safe_url("mailto:someone@example.org", image=True)
    assert not is_safe_url("https://")
    assert not is_safe_url("javascript:alert(1)")
    assert not is_safe_url("//example.org/x")
    assert not is_safe_url("http://[broken")


def test_text_links_lists_and_emphasis() -> None:
    text = to_text(
        "Read *this* and **that**: [the post](https://example.org/p).\n\n"
        "- first\n- second\n  1. nested\n\n"
        "3. three\n4. four\n\n"
        "> quoted\n\n"
        "    code line\n\n"
        "Mail <me@example.org> or visit <https://example.org>."
    )
    assert "Read this and that: the post (https://example.org/p)." in text
    assert "- first\n- second\n  1. nested" in text
    assert "3. three\n4. four" in text
    assert "> quoted" in text
    assert "    code line" in text
    assert "Mail me@example.org or visit https://example.org." in text
    assert "*" not in text


def test_text_keeps_ampersands_and_has_no_tags() -> None:
    text = to_text("Tom &amp; Jerry & friends, `a < b`, ~~old~~ new")
    assert text == "Tom & Jerry & friends, a < b, old new"


def test_text_loose_list_item_paragraphs_are_indented() -> None:
    text = to_text("1. first para\n\n   second para\n\n2. next")
    assert text == "1. first para\n\n   second para\n\n2. next"


def test_image_in_text_is_its_alt() -> None:
    assert to_text("See ![a chart](https://example.org/c.png).") == "See a chart."


def test_empty_body() -> None:
    assert to_html("") == ""
    assert to_text("") == ""


def _probe(store: Path, body: str) -> list[str]:
    """Render ``body`` in a new process with ``store``; its HTML, text and modules loaded."""
    code = (
        "import json, sys; from pathlib import Path; from newsletter_digest import markdown, memo;"
        f"memo.load(Path({str(store)!r}));"
        f"r = markdown.render({body!r}); memo.save();"
        "print(json.dumps([r.html, r.text, 'markdown_it' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def test_rendered_bodies_are_kept_for_the_next_run(tmp_path: Path) -> None:
    store = tmp_path / "markdown.json"
    body = "Some *emphasis* and [a link](https://example.org/)."
    first = _probe(store, body)
    assert first == [to_html(body), to_text(body), True]
    assert _probe(store, body) == [to_html(body), to_text(body), False]  # no parser needed
    other = "A **different** body."
    assert _probe(store, other) == [to_html(other), to_text(other), True]
    assert _probe(store, body)[2] is False  # the store keeps both


@pytest.mark.parametrize("junk", [b"", b"[]", b'{"key": "other", "tables": {}}'])
def test_a_broken_or_stale_store_is_ignored(tmp_path: Path, junk: bytes) -> None:
    store = tmp_path / "markdown.json"
    store.write_bytes(junk)
    body = "Fresh *text*."
    assert _probe(store, body) == [to_html(body), to_text(body), True]


def test_a_store_from_other_code_is_not_trusted(tmp_path: Path) -> None:
    store = tmp_path / "markdown.json"
    body = "Trusted *text*."
    _probe(store, body)
    data = json.loads(store.read_bytes())
    data["tables"]["markdown"][body] = ["<script>stale</script>", "stale"]
    data["key"] = "0" * 64  # what an older version of markdown.py would have written
    store.write_text(json.dumps(data), encoding="utf-8")
    assert _probe(store, body)[:2] == [to_html(body), to_text(body)]


# Text from every character that means something in Markdown, and some that do not.
MARKDOWN_ISH = st.lists(
    st.sampled_from([*"ab1 9.)\n\\`*_~[]<>&#=+-!:;x\"'(\t\u00a0\u200bé’…", "amp", "&#35;"]),
    max_size=60,
).map("".join)


@given(MARKDOWN_ISH)
@example("1\\. one\\\n2\\. two")  # escaped list markers, as `digest import` writes them
@example("a\\\n\nb")  # a backslash that ends a paragraph is text
@example("a\\\\\nb")  # an escaped backslash, then a soft break
@example('say "hi" & <go>')
@example("Q&A, R&D &amp; AT&T; &#35; \\&amp; &\\#35;")
def test_plain_prose_is_rendered_exactly_as_markdown_it_would(body: str) -> None:
    """Whenever the plain-prose path answers, markdown-it gives the same HTML and text."""
    plain = _plain_prose(body)
    if plain is not None:
        assert plain == parse_and_render(body)


WORD = st.text(
    st.sampled_from(list("abcXYZ019éü’…“”.,;:!?'\"()/%$@-&")), min_size=1, max_size=8
).filter(
    lambda word: re.search(r"&[A-Za-z0-9]+;", word) is None  # an entity, as "&amp;" would be
)
FIRST = st.text(st.sampled_from(list("aZéÖ")), min_size=1, max_size=5)
ESCAPED = st.sampled_from(["\\.", "\\*", "\\#", "\\[", "\\_", "\\&", "\\<", "\\\\"])
LINE = st.builds(
    lambda first, words: " ".join([first, *words]),
    FIRST,
    st.lists(st.one_of(WORD, ESCAPED), max_size=8),
)
PARAGRAPH = st.builds(
    lambda lines, breaks: "".join(
        line + (brk if n < len(lines) - 1 else "")
        for n, (line, brk) in enumerate(zip(lines, breaks, strict=False))
    ),
    st.lists(LINE, min_size=1, max_size=5),
    st.lists(st.sampled_from(["\n", "\\\n"]), min_size=5, max_size=5),
)


@given(st.lists(PARAGRAPH, min_size=1, max_size=4), st.sampled_from(["\n\n", "\n\n\n"]))
def test_teasers_in_plain_prose_need_no_parser(paragraphs: list[str], gap: str) -> None:
    """Prose with hard and soft breaks and escaped punctuation takes the plain path."""
    body = gap.join(paragraphs)
    plain = _plain_prose(body)
    assert plain is not None, body
    assert plain == parse_and_render(body)


def test_bundled_excerpts_render_without_the_parser() -> None:
    """The example's teasers (imported from plain text) are all plain prose."""
    bodies = [
        path.read_text(encoding="utf-8").split("---", 2)[2].strip()
        for path in sorted((Path(__file__).parent.parent / "content").glob("*.md"))
    ]
    assert len(bodies) >= 8
    for body in bodies:
        assert _plain_prose(body) is not None, body
        assert render(body) == parse_and_render(body)
