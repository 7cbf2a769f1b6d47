"""Headings taken from the first sentence: the sentence is printed once, in HTML and text.

A teaser without a title gets its heading from its first sentence; the body then goes on
after that sentence, so a reader never reads it twice. A real title leaves the body whole.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_excerpt
from newsletter_digest.content.teasers import (
    body_under_title,
    first_sentence_title,
    plain_to_markdown,
)
from newsletter_digest.render.markdown import render

Digest = Callable[..., Result]
BUNDLED = Path(__file__).resolve().parents[1] / "content"

# Teasers as the user's own file has them: each cut off by its source with "...".
LONG = (
    "How I reduced API latency by 88%, achieved 99.8% uptime, and scaled a platform from 2,000 "
    "to 15,000 concurrent users without downtime."
)
TEASERS = f"""\
I had this idea to run AI locally on my own laptop. Just to see if I could. Ended up going
with Ollama.
At first it was brutal, all CPU, no GPU, super slow. Not fast,...

Most teams do.
Because realistically:
Security audits are expensive and slow
Right?
Here's the uncomfortab...

{LONG} There is a moment every backend engineer dre...

Stop guessing!
Measure first, then tune the query plan...

Shipping on Fridays is fine when the pipeline is boring...
"""


class _Visible(HTMLParser):
    """The text a reader sees in the email's excerpt cards (no preheader, no head)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag == "body":
            self._in_body = True
        if self._hidden or "preheader" in classes.split():
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if self._in_body and not self._hidden:
            self.parts.append(data)


def seen_in_html(html: str) -> str:
    """The words a reader sees in the HTML part, on one line."""
    parser = _Visible()
    parser.feed(re.sub(r"<!--.*?-->", "", html, flags=re.DOTALL))
    return " ".join(" ".join(parser.parts).split())


def one_line(text: str) -> str:
    return " ".join(text.split())


def build_all(project: Path, digest: Digest) -> tuple[str, str]:
    """Build one issue holding every excerpt; its HTML as seen and its text part."""
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("per_issue: 3", "per_issue: 20"))
    result = digest("build")
    assert result.exit_code == 0, result.output
    folder = project / "outbox" / "issue-0001"
    html = (folder / "issue-0001.html").read_text(encoding="utf-8")
    text = (folder / "issue-0001.txt").read_text(encoding="utf-8")
    return seen_in_html(html), re.sub(r" =+ ", " ", one_line(text))  # no heading underlines


def test_imported_teasers_print_their_first_sentence_once(project: Path, digest: Digest) -> None:
    shutil.rmtree(project / "content")
    (project / "content").mkdir()
    teasers = project / "teasers.txt"
    teasers.write_text(TEASERS, encoding="utf-8")
    assert digest("import", str(teasers)).exit_code == 0
    html, text = build_all(project, digest)
    for part in (html, text):
        # Heading, then the rest: the sentence is not the body's first line as well.
        assert part.count("I had this idea to run AI locally on my own laptop") == 1
        assert "I had this idea to run AI locally on my own laptop Just to see" in part
        assert part.count("Most teams do") == 1
        assert "Most teams do Because realistically:" in part
        assert part.count("Stop guessing!") == 1
        # A heading cut short: the body goes on from the cut, nothing twice, nothing lost.
        assert part.count("and scaled a platform") == 1
        assert "scaled a platform… …from 2,000 to 15,000 concurrent users" in part
        # One sentence and nothing more: the heading alone, no repeat.
        assert part.count("Shipping on Fridays is fine when the pipeline is") == 1


def test_a_single_sentence_teaser_renders_no_empty_body(project: Path, digest: Digest) -> None:
    shutil.rmtree(project / "content")
    (project / "content").mkdir()
    (project / "content" / "one.md").write_text("Only this one sentence.\n", encoding="utf-8")
    folder = project / "outbox" / "issue-0001"
    assert digest("build").exit_code == 0
    page = (folder / "issue-0001.html").read_text(encoding="utf-8")
    text = (folder / "issue-0001.txt").read_text(encoding="utf-8")
    assert 'class="body"' not in page  # no empty paragraph block under the heading
    assert seen_in_html(page).count("Only this one sentence") == 1
    assert text.count("Only this one sentence") == 1
    heading = text.index("Only this one sentence")
    assert re.match(r"Only this one sentence\n=+\n\n----", text[heading:])


def test_the_bundled_example_prints_each_first_sentence_once(project: Path, digest: Digest) -> None:
    shutil.rmtree(project / "content")
    shutil.copytree(BUNDLED, project / "content")
    html, text = build_all(project, digest)
    titles = [
        re.search(r"^title: (.*)$", path.read_text(encoding="utf-8"), re.M)
        for path in sorted(BUNDLED.glob("*.md"))
    ]
    assert len(titles) >= 8
    for match in titles:
        assert match is not None
        title = match.group(1).strip("'\"").removesuffix("…")
        assert html.count(title) == 1, title
        assert text.count(title) == 1, title


def test_a_real_title_leaves_the_body_whole(project: Path, digest: Digest) -> None:
    write_excerpt(
        project / "content",
        "real",
        "Why the database is slow",
        "The database is slow. Here is why.",
    )
    html, text = build_all(project, digest)
    for part in (html, text):
        assert "Why the database is slow" in part
        assert "The database is slow. Here is why." in part


# --- the rule itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "body", "shown"),
    [
        ("Most teams do", "Most teams do.\\\nBecause realistically:", "Because realistically:"),
        ("Stop!", "Stop! Now.", "Now."),
        ("We all hear this", "We all hear this: AI will", "AI will"),
        ("A heading", "## A heading\nbody", "body"),
        ("Quote", "> Quote. Rest of it.", "> Rest of it."),
        ("1. escaped *markdown*", "1\\. escaped *markdown*\\\nnext", "next"),
        ("One sentence", "One sentence.", ""),
        ("Real title", "Real title is not the first sentence.", None),
        ("real", "Not derived from it. At all.", None),
    ],
)
def test_body_under_title(title: str, body: str, shown: str | None) -> None:
    assert body_under_title(title, body) == (body if shown is None else shown)


def test_a_long_sentence_cut_for_the_heading_goes_on_in_the_body() -> None:
    body = f"{LONG} More."
    title = first_sentence_title(body)
    assert title.endswith("platform…")
    assert (
        body_under_title(title, body)
        == "…from 2,000 to 15,000 concurrent users without downtime. More."
    )


LINES = st.lists(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=60),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(lines=LINES)
def test_heading_and_body_together_say_the_teaser_once(lines: list[str]) -> None:
    """Whatever the teaser, the heading plus what is printed under it reads as the teaser:
    nothing twice, nothing lost (a cut heading and its go-on share one "…")."""
    body = plain_to_markdown("\n".join(lines))
    title = first_sentence_title(body)
    shown = body_under_title(title, body)
    if shown == body:
        return  # the heading is not the first sentence as written: the body is left whole
    whole = render(body).text
    rest = render(shown).text if shown else ""
    if title.endswith("…") and rest.startswith("…"):  # cut: the two halves share one "…"
        title, rest = title[:-1], rest[1:]
    # The heading leaves out the sentence's full stop or colon (and a cut the comma at the
    # cut); every other character of the teaser is there, once, in order.
    assert letters(f"{title} {rest}") == letters(whole)


def letters(text: str) -> str:
    """The text without spaces and the punctuation a heading may drop at its end."""
    return re.sub(r"[\s,;:.\-–—]", "", text)
