"""Excerpt bodies: safe Markdown to HTML, and readable plain text for the text part."""

from __future__ import annotations

import pytest

from newsletter_digest.render.markdown import is_safe_url, to_html, to_text


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
