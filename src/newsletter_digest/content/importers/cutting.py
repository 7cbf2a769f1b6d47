"""Cutting an imported summary short: Markdown cut near a length, at a sentence end where
there is one, never inside a link, and with every emphasis or code span it opens closed.

markdown-it-py (the parser the email renders with) reads the summary; the cut is written
back from its tokens, so each emphasis, code span and link is a node whose markers are
written around what is kept of it, and what would show as syntax is escaped. Only a window
a little past the cut is ever parsed, so a long hostile summary costs no more than a short
one.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from newsletter_digest.content.teasers import escape_markdown, plain_to_markdown

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

__all__ = ["cut_at_sentence"]

_SENTENCE_END = re.compile(r"[.!?][\"')\]’”]*$")  # a word that ends a sentence
_PIECES = re.compile(r"\S+|\s+")
_TRAILING = " \t\n.,;:-–—\\"  # left off the end before the "…"
_WINDOW = 4096  # how far past the cut a link may end and still be recognised
_ATTEMPTS = 16  # places to cut tried before falling back to the plain words
_CONTAINERS = {"em_open": "em_close", "strong_open": "strong_close", "s_open": "s_close"}


@cache
def _parser() -> MarkdownIt:
    """CommonMark with strikethrough and raw HTML off: the Markdown the email renders."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("strikethrough")


class _Open(NamedTuple):
    """An inline node the output is inside: where its marker starts, where its text starts,
    and what closes it."""

    start: int
    content: int
    closer: str


HARD, SPACE, SENTENCE = 0, 1, 2  # where a cut falls: in a word, at a space, a sentence end


class _Candidate(NamedTuple):
    """A place the cut may fall: the output's length there, what kind of place it is, the
    nodes open there, and where the text of its block starts."""

    position: int
    kind: int
    opened: tuple[_Open, ...]
    block: int


class _FullError(Exception):
    """The output reached the limit: nothing past it can be kept."""


def cut_at_sentence(text: str, max_len: int) -> str:
    """Return Markdown cut near max_len characters at a sentence end (or else a space), plus
    "…". A link the cut would split is kept whole when it ends soon after, dropped when it
    starts late, or else cut inside its text and left as plain words; code and emphasis it
    opens are closed again."""
    if len(text) <= max_len:
        return text
    tokens = _parser().parse(text[: max_len + _WINDOW])
    writer = _Writer(max_len)
    with contextlib.suppress(_FullError):  # the limit is reached: all that counts is written
        writer.blocks(tokens)
    cut = writer.cut(_shown(tokens))
    if cut is None:  # no place to cut leaves words (a long code block, a link): its words
        words = " ".join(_words(tokens).split())[:max_len]
        words = words.rsplit(" ", 1)[0] if " " in words else words
        cut = plain_to_markdown(words).rstrip(_TRAILING)
    return cut + "…"


def _shown(tokens: Sequence[Token]) -> str:
    """The words the tokens show, one space between each."""
    return " ".join(_words(tokens).split())


def _words(tokens: Sequence[Token]) -> str:
    """The text the tokens show, as plain text."""
    shown: list[str] = []
    for token in tokens:
        if token.type in ("fence", "code_block"):
            shown.append(token.content)
        for child in token.children or ():
            if child.type in ("text", "code_inline"):
                shown.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                shown.append(" ")
        shown.append(" ")
    return "".join(shown)


class _Writer:
    """Writes tokens back as Markdown up to a limit, noting where a cut may fall."""

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self.limit = max_len
        self.parts: list[str] = []
        self.length = 0
        self.opened: list[_Open] = []
        self.prefixes: list[str] = []  # what starts each line inside quotes and list items
        self.block = 0  # where the current block's text starts
        self.first = True  # nothing written in the current container yet
        self.line_start = True  # what comes next starts a line (block syntax there)
        self.sentence = False  # the last word written ends a sentence
        self.candidates: list[_Candidate] = []

    # --- output ------------------------------------------------------------------------

    def write(self, piece: str) -> None:
        """Add ``piece`` whole, or stop the writing when it would pass the limit."""
        if self.length + len(piece) > self.limit:
            self.mark(HARD)
            raise _FullError
        self.parts.append(piece)
        self.length += len(piece)
        self.line_start = False

    def mark(self, kind: int) -> None:
        """Note that the cut may fall here, when the block has some text already."""
        if self.length > self.block:
            self.candidates.append(_Candidate(self.length, kind, tuple(self.opened), self.block))

    def pause(self) -> None:
        """Note a space-like place to cut: a sentence end if the last word ends one."""
        self.mark(SENTENCE if self.sentence else SPACE)

    def newline(self, *, blank: bool) -> None:
        """End a line (and leave a blank one) inside the open quotes and list items."""
        prefix = "".join(self.prefixes)
        self.write(("\n" + prefix.rstrip() if blank else "") + "\n" + prefix)
        self.line_start = True

    def marker(self, marker: str) -> None:
        """Write a block's marker ("> ", "- ", "## "): its text starts a line after it."""
        self.write(marker)
        self.line_start = True

    # --- blocks ------------------------------------------------------------------------

    def blocks(self, tokens: Sequence[Token]) -> None:
        """Write the block tokens: paragraphs, headings, quotes, lists, code, rules."""
        tight: list[bool] = []
        for index, token in enumerate(tokens):
            kind = token.type
            if kind in ("bullet_list_open", "ordered_list_open"):
                following = tokens[index + 2] if index + 2 < len(tokens) else token
                tight.append(following.type != "paragraph_open" or following.hidden)
                self.separate(tight)
                self.first = True
            elif kind == "list_item_open":
                self.list_item(token, tight)
            elif kind in ("list_item_close", "blockquote_close"):
                self.prefixes.pop()
                self.first = False
            elif kind in ("bullet_list_close", "ordered_list_close"):
                tight.pop()
                self.first = False
            elif kind == "blockquote_open":
                self.separate(tight)
                self.marker("> ")
                self.prefixes.append("> ")
                self.first = True
            else:
                self.leaf(token, tight)

    def separate(self, tight: list[bool]) -> None:
        """Start a block: on a new line after the one before (a blank one but in tight lists)."""
        if not self.first:
            self.pause()
            self.newline(blank=not (tight and tight[-1]))
        self.first = False

    def list_item(self, token: Token, tight: list[bool]) -> None:
        """Start a list item with its marker; its lines go on indented under the marker."""
        if not self.first:
            self.pause()
            self.newline(blank=not tight[-1])
        marker = f"{token.info}{token.markup}" if token.info else token.markup
        self.marker(marker + " ")
        self.prefixes.append(" " * (len(marker) + 1))
        self.first = True

    def leaf(self, token: Token, tight: list[bool]) -> None:
        """Write a block that holds no other blocks: paragraph, heading, code, rule."""
        kind = token.type
        if kind in ("paragraph_open", "heading_open"):
            self.separate(tight)
            if kind == "heading_open":
                self.marker(token.markup + " ")
            self.block = self.length
        elif kind == "inline":
            self.sentence = False
            self.inline(token.children or [])
        elif kind in ("paragraph_close", "heading_close"):
            self.pause()
        elif kind in ("fence", "code_block", "hr"):
            self.separate(tight)
            self.block = self.length
            self.write_lines(_leaf_markdown(token))
            self.mark(SPACE)

    def write_lines(self, text: str) -> None:
        """Write lines, each after the open quotes' and list items' prefix (all or nothing)."""
        prefix = "".join(self.prefixes)
        self.write(text.replace("\n", "\n" + prefix))

    # --- inline ------------------------------------------------------------------------

    def inline(self, tokens: Sequence[Token]) -> None:
        """Write inline tokens: text by words, containers with their markers, links."""
        index = 0
        while index < len(tokens):
            token = tokens[index]
            kind = token.type
            if kind == "link_open":
                end = _closing(tokens, index, "link_close")
                self.link(token, tokens[index + 1 : end])
                index = end
            elif kind in _CONTAINERS:
                start = self.length
                self.write(token.markup)
                self.opened.append(_Open(start, self.length, token.markup))
            elif kind in ("em_close", "strong_close", "s_close"):
                self.write(token.markup)
                self.opened.pop()
            else:
                self.leaf_inline(token)
            index += 1

    def leaf_inline(self, token: Token) -> None:
        """Write text, a code span, a line break or an image."""
        kind = token.type
        if kind == "text":
            self.words(token.content, escape=True)
        elif kind == "code_inline":
            self.code(token)
        elif kind in ("softbreak", "hardbreak"):
            self.pause()
            self.write("\\" if kind == "hardbreak" else "")
            self.newline(blank=False)
        elif kind == "image":
            self.write(_image(token))
            self.sentence = False

    def words(self, text: str, *, escape: bool) -> None:
        """Write text word by word, noting a possible cut before each space; a word past the
        limit is cut where the limit falls."""
        for piece in _PIECES.findall(text):
            if piece.isspace():
                self.pause()
                self.write(piece)
                continue
            written = escape_markdown(piece, line_start=self.line_start) if escape else piece
            room = self.limit - self.length
            if len(written) > room:
                self.write(_head(written, room))
                self.mark(HARD)
                raise _FullError
            self.write(written)
            self.sentence = bool(_SENTENCE_END.search(piece))

    def code(self, token: Token) -> None:
        """Write a code span; cut inside, it is closed again with its backticks."""
        fence = token.markup
        content = token.content
        pad = " " if content.startswith("`") or content.endswith("`") else ""
        start = self.length
        self.write(fence + pad)
        self.opened.append(_Open(start, self.length, fence))
        self.words(content, escape=False)
        self.opened.pop()
        self.write(pad + fence)
        self.sentence = False

    def link(self, token: Token, inner: Sequence[Token]) -> None:
        """A link whole when it fits, or ends soon after the length (then the cut falls after
        it); none of it when it starts late; else its words alone, as plain text."""
        whole = _link_markdown(token, inner)
        start, end = self.length, self.length + len(whole)
        if end <= self.max_len or end - self.max_len <= self.max_len // 4:
            self.limit = max(self.limit, end)
            self.write(whole)
            self.sentence = False
            if end > self.max_len:
                self.mark(SPACE)
                raise _FullError
        elif start >= self.max_len // 2:
            self.limit = start
            raise _FullError
        else:
            self.inline(inner)

    # --- the cut -----------------------------------------------------------------------

    def cut(self, shown: str) -> str | None:
        """The output cut at the best place noted: the last sentence end past half the
        length, else the last space past half, else where the limit fell, else the last
        place at all that leaves words; None if none.

        A cut is taken only if it shows the start of what the whole ``shown``: where
        dropping a link's brackets or closing an emphasis would make a marker next to it
        read differently, the next place is tried.
        """
        half = self.max_len // 2
        usable = [c for c in reversed(self.candidates) if c.position <= self.limit]
        sentences = [c for c in usable if c.kind == SENTENCE and c.position >= half]
        spaces = [c for c in usable if c.kind != HARD and c.position > half]
        hard = [c for c in usable if c.kind == HARD]
        ordered = [*sentences[:1], *spaces, *hard, *usable]
        output = "".join(self.parts)
        for candidate in ordered[:_ATTEMPTS]:
            cut = _closed(output, candidate)
            if cut is not None and shown.startswith(_shown(_parser().parse(cut))):
                return cut
        return None


def _closed(output: str, candidate: _Candidate) -> str | None:
    """The output up to ``candidate``, less trailing punctuation, with what it has open
    closed; a node left with nothing in it goes whole. None when no text is left."""
    cut = output[: candidate.position].rstrip(_TRAILING)
    opened = list(candidate.opened)
    while opened and len(cut) <= opened[-1].content:
        cut = output[: opened.pop().start].rstrip(_TRAILING)
    if len(cut) <= candidate.block or not re.search(r"\w", cut[candidate.block :]):
        return None
    closers = "".join(
        (" " if cut.endswith("`") and node.closer.startswith("`") else "") + node.closer
        for node in reversed(opened)
    )
    return cut + closers


def _closing(tokens: Sequence[Token], index: int, kind: str) -> int:
    """The index of the token that closes the one at ``index``."""
    for end in range(index + 1, len(tokens)):
        if tokens[end].type == kind:
            return end
    return len(tokens)


def _head(written: str, room: int) -> str:
    """The first ``room`` characters of an escaped word, not ending inside an escape."""
    head = written[: max(room, 0)]
    return head[:-1] if head.endswith("\\") else head


def _link_markdown(token: Token, inner: Sequence[Token]) -> str:
    """A link written back whole: ``[text](destination "title")``, or ``<url>``."""
    if token.markup == "autolink":
        return "<" + "".join(t.content for t in inner) + ">"
    writer = _Writer(1 << 60)
    writer.inline(inner)
    href = str(token.attrGet("href") or "")
    destination = f"<{href}>" if re.search(r"[\s()]", href) or not href else href
    title = token.attrGet("title")
    quoted = ' "' + str(title).replace("\\", "\\\\").replace('"', '\\"') + '"' if title else ""
    return "[" + "".join(writer.parts) + "](" + destination + quoted + ")"


def _image(token: Token) -> str:
    """An image written back: ``![alt](source "title")``."""
    src = str(token.attrGet("src") or "")
    destination = f"<{src}>" if re.search(r"[\s()]", src) or not src else src
    title = token.attrGet("title")
    quoted = ' "' + str(title).replace("\\", "\\\\").replace('"', '\\"') + '"' if title else ""
    return f"![{escape_markdown(token.content, line_start=False)}]({destination}{quoted})"


def _leaf_markdown(token: Token) -> str:
    """A code block or a rule written back as it was."""
    if token.type == "hr":
        return token.markup
    if token.type == "fence":
        return f"{token.markup}{token.info}\n{token.content}{token.markup}"
    return "\n".join("    " + line for line in token.content.rstrip("\n").split("\n"))
