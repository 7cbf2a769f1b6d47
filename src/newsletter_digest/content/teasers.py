"""Import plain-text teaser files into content/: one Markdown excerpt file per teaser.

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

import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from newsletter_digest.content.frontmatter import split_front_matter
from newsletter_digest.errors import ContentError
from newsletter_digest.files import create_new, fsync_dir

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


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: files it wrote, and teasers it left out with the reason why."""

    written: tuple[Path, ...]
    skipped: tuple[str, ...]


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


def _teaser_parts(teaser: str) -> tuple[str, str, str]:
    """Return (slug, title, Markdown body) for one teaser."""
    finished = finish_teaser(teaser)
    title = first_sentence_title(finished)
    return slugify(title), title, plain_to_markdown(finished)


def _file_text(title: str, body: str, added: date | None) -> str:
    """Return an excerpt file's text: YAML front matter, a blank line, the body."""
    import yaml  # here, not at the top: only the import command writes YAML

    meta: dict[str, object] = {"title": title}
    if added is not None:
        meta["added"] = added
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1_000_000)
    return f"---\n{front}---\n\n{body}\n"


def teaser_to_markdown(teaser: str, added: date | None = None) -> tuple[str, str]:
    """Return (slug, excerpt file text with front matter) for one teaser; pure."""
    slug, title, body = _teaser_parts(teaser)
    return slug, _file_text(title, body, added)


def _read_teaser_file(path: Path) -> str:
    """Read a teaser file as UTF-8, or raise ContentError saying what is wrong and what to do."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ContentError(
            f"cannot read teaser file {path}: {e.strerror or e}",
            hint="check the path and that the file is readable",
        ) from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ContentError(
            f"{path}:{line}: not UTF-8 text (byte offset {e.start}: {e.reason})",
            hint="save the file with UTF-8 encoding (most editors offer it under 'Save as') "
            "and import it again",
        ) from e


def _normalized(body: str) -> str:
    """Return body text in the form used to spot the same excerpt twice: whitespace collapsed."""
    return " ".join(body.replace("\\\n", "\n").split())


def _existing_bodies(content_dir: Path) -> tuple[dict[str, str], set[str]]:
    """Return {normalized body: file name} of the folder's excerpts, and all names taken."""
    bodies: dict[str, str] = {}
    taken: set[str] = set()
    for entry in sorted(os.scandir(content_dir), key=lambda e: e.name):
        taken.add(entry.name.lower())
        if entry.name.startswith(".") or not entry.name.endswith(".md"):
            continue
        try:
            raw = Path(entry.path).read_bytes()
        except OSError:
            continue
        text = raw.decode("utf-8", "replace").removeprefix("\ufeff").replace("\r\n", "\n")
        try:
            body = split_front_matter(text)[1]
        except ValueError:
            body = text
        bodies.setdefault(_normalized(body), entry.name)
    return bodies, taken


def import_teasers(
    files: Sequence[Path], content_dir: Path, added: date | None = None
) -> ImportResult:
    """Write one excerpt file to content_dir per teaser in files that is not there yet.

    All files are read before anything is written, so an unreadable file imports nothing.
    ``added`` goes into each new file's front matter when given.
    """
    texts = [(path, _read_teaser_file(path)) for path in files]
    try:
        content_dir.mkdir(parents=True, exist_ok=True)
        bodies, taken = _existing_bodies(content_dir)
    except OSError as e:
        raise ContentError(
            f"cannot use content folder {content_dir}: {e.strerror or e}",
            hint="point the import at a folder you can write to",
        ) from e
    written: list[Path] = []
    skipped: list[str] = []
    for path, text in texts:
        for number, teaser in enumerate(split_teasers(text), start=1):
            slug, title, body = _teaser_parts(teaser)
            key = _normalized(body)
            if key in bodies:
                skipped.append(f'{path.name} teaser {number} "{title}": already in {bodies[key]}')
                continue
            file_text = _file_text(title, body, added)
            target = _write_unique(content_dir, slug, file_text, taken)
            bodies[key] = target.name
            written.append(target)
    if written:
        fsync_dir(content_dir)
    return ImportResult(written=tuple(written), skipped=tuple(skipped))


def _write_unique(content_dir: Path, slug: str, text: str, taken: set[str]) -> Path:
    """Write text to <slug>.md, or <slug>-2.md, -3, ... if taken; return the path written."""
    number = 1
    while True:
        name = f"{slug}.md" if number == 1 else f"{slug}-{number}.md"
        number += 1
        if name.lower() in taken:
            continue
        target = content_dir / name
        try:
            done = create_new(target, text.encode("utf-8"))
        except OSError as e:
            raise ContentError(
                f"cannot write {target}: {e.strerror or e}",
                hint="check that the content folder is writable and the disk is not full",
            ) from e
        taken.add(name.lower())
        if done:
            return target
