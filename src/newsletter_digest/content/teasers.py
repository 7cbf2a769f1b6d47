"""Plain-text teasers: split a file into teasers, finish and title them, as Markdown.

The importers (content/importers) write the files; these are the teaser format's rules and
the text helpers other formats share (titles, slugs, plain text as Markdown).

The input is what feed readers and social sites hand out: teasers, each possibly several lines
long, each cut off by the source with "..." or "…" at the end of its last line. The rules:

- A line ending in "..." or "…" ends a teaser, unless the very next line is not blank and starts
  with a lowercase letter: then the ellipsis was the author's own pause mid-sentence
  ("every shift in history…" / "it's changing the w...") and the teaser goes on.
- Blank lines between teasers are ignored; a blank line inside a teaser is kept as a paragraph
  break. Text after the last ellipsis line is one more teaser, kept as written (it was not cut
  off, so it gets no "…").
- A last word glued to the ellipsis ("test...", "uncomfortab...") was cut mid-word by the
  source and is dropped; the teaser then ends with "…". "fast,..." or "red, ..." keep their word.
- Lines are kept as lines (Markdown hard breaks), with Markdown syntax escaped so the text
  renders exactly as typed ("1. AI can..." stays a sentence, not a list).
"""

from __future__ import annotations

import re
import unicodedata

_ELLIPSES = ("...", "…")
# Trimmed from the end of a cut teaser or title before "…" is added: "red, ..." -> "red…".
_TRAILING_JUNK = " \t\n,;:.-–—"

_SENTENCE_END = re.compile(r"[.!?:](?=\s|$)")
_LETTER = re.compile(r"[^\W\d_]")
_MD_PREFIX = re.compile(r"(?:#{1,6}|>)[ \t]+")
_MD_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")

# Characters that start inline Markdown anywhere in a line; "&" only where it would read as an
# entity ("&amp;"), since a plain "&" renders as itself.
_INLINE_SPECIAL = re.compile(r"[\\`*_\[\]<~]|&(?=#?[0-9A-Za-z]+;)")
# Line starts that open a block: heading, quote, bullet, thematic break, setext underline.
_BLOCK_START = re.compile(r"#{1,6}(?=[ \t]|$)|>|[-+](?=[ \t]|$|-)|=(?==*[ \t]*$)")
_ORDERED_ITEM = re.compile(r"(\d{1,9})([.)])(?=[ \t]|$)")

_SLUG_DROP = re.compile(r"['\"]")
_SLUG_SEP = re.compile(r"[^a-z0-9]+")
# Letters NFKD does not decompose to ASCII but that have a usual spelling in a URL.
_TRANSLIT = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l"}
    | {"Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D"}
)
SLUG_MAX_LEN = 60


def first_sentence_title(text: str, max_len: int = 80) -> str:
    """Return a title from the first sentence of plain text or simple Markdown, at most max_len.

    The sentence ends at ".", "!", "?" or ":" before a space, or at the end of the first line;
    "!" and "?" are kept. A longer title is cut at a word boundary and ends with "…".
    """
    text = text.lstrip()
    line = text[: text.find("\n")] if "\n" in text else text
    line = line.strip()
    if line.endswith("\\"):  # a Markdown hard line break, not part of the text
        line = line[:-1].rstrip()
    prefix = _MD_PREFIX.match(line)
    if prefix:
        line = line[prefix.end() :]
    line = _MD_UNESCAPE.sub(r"\1", line)
    for end in _SENTENCE_END.finditer(line):
        # "1. AI can..." is a numbered line, not a one-word sentence: a sentence has a letter.
        if _LETTER.search(line, 0, end.start()):
            line = line[: end.end()] if end.group() in "!?" else line[: end.start()]
            break
    title = " ".join(line.split())
    if len(title) <= max_len:
        return title
    head = title[: max_len - 1]
    if title[max_len - 1] != " ":  # the cut fell inside a word: back up to the word's start
        space = head.rfind(" ")
        if space > 0:
            head = head[:space]
    return head.rstrip(_TRAILING_JUNK) + "…"


def body_under_title(title: str, body: str) -> str:
    """The body as printed under its heading: when the heading is the body's first sentence
    (a title derived from the body, or one written the same), that sentence is not printed
    again. A heading cut short ("…") leaves the body to go on from the cut ("…from 2,000").
    A real title, or a body with nothing after the sentence, is returned as it is / empty.
    """
    if not title or title != first_sentence_title(body):
        return body
    text = body.lstrip()
    newline = text.find("\n")
    line, rest = (text, "") if newline < 0 else (text[:newline], text[newline + 1 :])
    prefix = _MD_PREFIX.match(line)
    start = prefix.end() if prefix else 0
    end = _consume(line, start, title)
    lead = ""
    if end is None and title.endswith("…"):  # cut short: go on from the cut, with an ellipsis
        end = _consume(line, start, title[:-1])
        if end is not None:
            while end < len(line) and line[end] in _TRAILING_JUNK:
                end += 1
            lead = "…"
    elif end is not None and line[end : end + 1] in (".", ":"):
        end += 1  # the full stop or colon the title leaves out
    if end is None:  # not the sentence after all: print the body whole
        return body
    remainder = line[end:].strip()
    if remainder in ("", "\\"):
        return rest.lstrip("\n").rstrip()
    first = (prefix.group() if prefix else "") + lead + remainder
    return f"{first}\n{rest}".rstrip() if rest else first


def _consume(line: str, start: int, text: str) -> int | None:
    """Where ``text`` (unescaped, its spaces collapsed) ends in ``line`` read from ``start``;
    None when the line does not read as ``text`` there."""
    at = start
    for char in text:
        if char == " ":
            if at >= len(line) or not line[at].isspace():
                return None
            while at < len(line) and line[at].isspace():
                at += 1
            continue
        if _MD_UNESCAPE.match(line, at):  # "\." in the Markdown is "." in the title
            at += 1
        if at >= len(line) or line[at] != char:
            return None
        at += 1
    return at


# C0 controls but tab and newline, and DEL: invisible junk that breaks HTML and MJML.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Text as excerpts keep it: no byte order mark, Unix newlines, no control characters."""
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def split_teasers(text: str) -> list[str]:
    """Split a teaser file's text into teasers, as written (ellipses kept, lines stripped)."""
    text = clean_text(text)
    lines = [line.strip() for line in text.split("\n")]
    teasers: list[str] = []
    current: list[str] = []
    for i, line in enumerate(lines):
        if not line:
            if current and current[-1]:
                current.append("")
            continue
        current.append(line)
        following = lines[i + 1] if i + 1 < len(lines) else ""
        continues = following[:1].islower()
        if line.endswith(_ELLIPSES) and not continues:
            teasers.append("\n".join(current).strip())
            current = []
    if current:
        teasers.append("\n".join(current).strip())
    return teasers


def finish_teaser(teaser: str) -> str:
    """Return the teaser without its source's ellipsis and cut-off last word, ending in "…"."""
    text = teaser.strip()
    for ellipsis in _ELLIPSES:
        if text.endswith(ellipsis):
            text = text[: -len(ellipsis)]
            break
    else:
        return text
    if text[-1:].isalnum():  # glued to the ellipsis: the source cut this word in half
        space = max(text.rfind(" "), text.rfind("\n"))
        if space > 0:
            text = text[:space]
    text = text.rstrip(_TRAILING_JUNK)
    return text + "…" if text else teaser.strip()


def _escape_line(line: str) -> str:
    """Escape one plain-text line so Markdown renders it as the same characters."""
    line = _INLINE_SPECIAL.sub(lambda m: "\\" + m.group(), line)
    ordered = _ORDERED_ITEM.match(line)
    if ordered:
        return f"{ordered.group(1)}\\{line[ordered.end(1) :]}"
    if _BLOCK_START.match(line):
        return "\\" + line
    return line


# Characters escaped in Markdown written back from a parse: inline syntax, "!" (an image if a
# link follows) and "#" (which could close a heading) wherever they are; at a line's start,
# also what would open a block.
_WRITTEN_SPECIAL = re.compile(r"[\\`*_\[\]<~#!]|&(?=#?[0-9A-Za-z]+;)")
_LINE_START = re.compile(r"[>+=-]|\d{1,9}(?=[.)])")


def escape_markdown(text: str, *, line_start: bool) -> str:
    """Escape text (no line ends in it) so Markdown shows it as these characters; with
    ``line_start``, also what would start a block there (a quote, list item, rule)."""
    escaped = _WRITTEN_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    start = _LINE_START.match(escaped) if line_start else None
    if start is None:
        return escaped
    at = start.end() if start.group()[0].isdigit() else 0
    return f"{escaped[:at]}\\{escaped[at:]}"


def plain_to_markdown(text: str) -> str:
    """Return Markdown that renders plain text faithfully: same characters, same line breaks."""
    lines = [_escape_line(line.strip()) for line in text.strip().split("\n")]
    out: list[str] = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        # A trailing backslash is CommonMark's visible hard line break (two spaces get eaten
        # by editors); none before a blank line or at the end, where it would be literal.
        out.append(line + "\\" if line and following else line)
    return "\n".join(out)


def slugify(title: str, max_len: int = SLUG_MAX_LEN) -> str:
    """Return a readable file name stem for a title: lowercase ASCII words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", title.translate(_TRANSLIT))
    ascii_text = ascii_text.encode("ascii", "ignore").decode("ascii").lower()
    slug = _SLUG_SEP.sub("-", _SLUG_DROP.sub("", ascii_text)).strip("-")
    if len(slug) > max_len:
        cut = slug[: max_len + 1]
        hyphen = cut.rfind("-")
        slug = (cut[:hyphen] if hyphen > 0 else slug[:max_len]).strip("-")
    return slug or "excerpt"
