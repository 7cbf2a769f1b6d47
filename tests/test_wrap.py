"""The text part wraps at 76 columns, never inside a URL, and keeps paragraphs, quote
markers and list indents (hypothesis: the words come back in order, nothing lost)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from newsletter_digest.render.markdown import to_text
from newsletter_digest.render.wrap import MAX_LINE, WIDTH, wrap_text

WORDS = st.one_of(
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12
    ),
    st.sampled_from(["https://example.org/a/very/long/path/that-keeps-going?and=query&x=1"]),
    st.just("x" * 1200),
    st.just("é" * 700),
)
PREFIXES = st.sampled_from(["", "> ", "> > ", "- ", "12. ", "    ", "  - "])


@given(st.lists(st.tuples(PREFIXES, st.lists(WORDS, max_size=40)), max_size=6))
@example([("", ["https://example.org/" + "p" * 90]), ("> ", ["word"] * 40)])
def test_wrapped_lines_are_short_and_lose_nothing(paragraphs: list[tuple[str, list[str]]]) -> None:
    text = "\n\n".join(prefix + " ".join(words) for prefix, words in paragraphs)
    wrapped = wrap_text(text)
    for line in wrapped.split("\n"):
        assert len(line.encode()) <= MAX_LINE  # octets, whatever the characters
        if len(line) > WIDTH:  # only where one word is longer than a line
            assert " " not in line.strip() or len(max(line.split(), key=len)) > WIDTH - 8
    assert wrapped.count("\n\n") == text.count("\n\n")  # paragraphs kept
    for (prefix, words), chunk in zip(paragraphs, wrapped.split("\n\n"), strict=False):
        kept = [w for line in chunk.split("\n") for w in line[len(prefix) :].split()]
        if all(len(w.encode()) <= MAX_LINE - 8 for w in words):
            assert kept == [w for w in words], chunk


def test_a_url_is_never_broken_and_quotes_carry_over() -> None:
    url = "https://example.org/" + "segment/" * 12
    text = "> " + "A sentence that goes on " * 6 + url + " and ends."
    wrapped = wrap_text(text).split("\n")
    assert all(line.startswith("> ") for line in wrapped)
    assert any(line == f"> {url}" or line.endswith(url) or url in line for line in wrapped)
    assert all(len(line) <= WIDTH for line in wrapped if url not in line)


def test_list_items_indent_their_continuation() -> None:
    wrapped = wrap_text("- " + "word " * 30).split("\n")
    assert wrapped[0].startswith("- ") and all(line.startswith("  ") for line in wrapped[1:])


def test_a_paragraph_wrapped_in_the_source_is_filled_again() -> None:
    # As `digest init`'s sample excerpts are written: lines of 86 columns, which the text
    # part used to keep and then wrap again, leaving one word alone on a line.
    source = (
        "Each file in `content/` is one **excerpt**: a title and a few lines of Markdown, with\n"
        "optional front matter (`url`, `author`, `source`, `tags`). Every issue picks a few of\n"
        "them, and the rotation makes sure each one comes round before any comes back."
    )
    lines = wrap_text(to_text(source)).split("\n")
    assert all(len(line) <= WIDTH for line in lines)
    assert all(len(line) > WIDTH - 15 for line in lines[:-1]), lines  # filled, no stubs
    assert " ".join(lines) == " ".join(to_text(source).split())
    assert to_text("A line  \nbroken on purpose") == "A line\nbroken on purpose"
