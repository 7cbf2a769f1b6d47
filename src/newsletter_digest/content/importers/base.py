"""What every importer shares: items, skips, the report, the duplicate key and the writer.

An importer turns one source into :class:`Item` objects (plain data, nothing written) plus the
entries it left out (:class:`Skip`). :func:`write_items` then writes the new ones into the
content folder, each file atomically, and says which were duplicates.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from newsletter_digest.content.frontmatter import split_front_matter
from newsletter_digest.content.importers.passages import (
    Passage,
    dedupe_key,
    overlap,
    passage_of,
    placed,
)
from newsletter_digest.content.importers.provenance import adopt, adopts, location_of
from newsletter_digest.content.teasers import clean_text, first_sentence_title, slugify
from newsletter_digest.errors import ContentError
from newsletter_digest.files import atomic_write, fsync_dir, fsync_files

# A source file larger than this is refused before a byte of it is read.
MAX_SOURCE_BYTES = 10 * 1024 * 1024  # the default of imports.max_mb

# Front matter keys in the order they are written; empty values are left out.
_KEY_ORDER = (
    "title",
    "source",
    "url",
    "author",
    "book",
    "location",
    "highlighted",
    "published",
    "tags",
    "imported_from",
    "added",
)


@dataclass(frozen=True, slots=True)
class Item:
    """One excerpt to write: Markdown body, title and provenance (front matter keys)."""

    body: str
    title: str
    meta: dict[str, object] = field(default_factory=dict)
    where: str = ""  # "entry 3", "line 12": where it came from in the source, for messages
    # Earlier versions of the same entry that the source still holds (a Kindle highlight
    # edited on the device): a file holding one of them is brought up to date, not doubled.
    replaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Skip:
    """An entry of a source left out, and why."""

    reason: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.where else self.reason


@dataclass(slots=True)
class Parsed:
    """What an importer read from one source: the items, what it skipped, notes for the user."""

    items: list[Item] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What importing one source did.

    ``written``: the new excerpt files; ``updated``: files that held an earlier version of
    an entry (a highlight edited since), now holding its latest text; ``adopted``: files an
    earlier import brought in from this source, now named after it; ``duplicates``:
    entries already in the content folder (or earlier in the same source), each with the
    file that has it; ``skipped``: entries left out with the reason; ``notes``: what else
    the user should know (a feed that was not well-formed, a missing optional column). For a
    URL, ``not_modified`` is True when the server answered 304, and ``etag`` and
    ``last_modified`` are the validators to send next time.
    """

    source: str
    format: str
    written: tuple[Path, ...] = ()
    updated: tuple[Path, ...] = ()
    duplicates: tuple[str, ...] = ()
    skipped: tuple[Skip, ...] = ()
    notes: tuple[str, ...] = ()
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    adopted: tuple[Path, ...] = ()


# What follows the comma in a company's name ("Example Media, Inc."), not a first name.
_COMPANY = {"inc", "ltd", "llc", "llp", "plc", "co", "corp", "gmbh", "ag", "sa", "bv", "srl"}


def natural_authors(names: str) -> str:
    """Authors as a reader says them: Kindle and Readwise join several with ";", Kindle
    writes each "Last, First"; "Hunt, Andrew; Thomas, David" reads "Andrew Hunt and David
    Thomas", and "Fowler, Martin" alone "Martin Fowler" (a company's ", Inc." is kept)."""
    parts = [" ".join(part.split()) for part in names.split(";")]
    parts = [part for part in parts if part]
    if not parts:
        return " ".join(names.split())
    natural = []
    for part in parts:
        last, comma, first = part.partition(", ")
        person = first and "," not in first and first.rstrip(".").lower() not in _COMPANY
        natural.append(f"{first} {last}" if comma and person else part)
    if len(natural) == 1:
        return natural[0]
    return f"{', '.join(natural[:-1])} and {natural[-1]}"


def read_source(path: Path, max_bytes: int = MAX_SOURCE_BYTES) -> bytes:
    """Read a source file; refuse one over ``max_bytes`` before reading it."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(f"{path} is {size / 1024 / 1024:.0f} MB, over", max_bytes)
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as e:
        raise ContentError(
            f"cannot read {path}: {e.strerror or e}",
            hint="check the path and that the file is readable",
        ) from e
    if len(data) > max_bytes:  # grew while being read
        raise _too_large(f"{path} is over", max_bytes)
    return data


def _too_large(what: str, max_bytes: int) -> ContentError:
    return ContentError(
        f"{what} the {max_bytes / 1024 / 1024:g} MB limit for an import; it was not read",
        hint="split the export into smaller files, or export a shorter time range "
        "(imports.max_mb in digest.yaml sets the limit)",
    )


def decode_text(data: bytes, name: str) -> str:
    """Decode a text export: UTF-8 (with or without a BOM) or UTF-16 with a BOM; Unix newlines."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ContentError(
            f"{name}:{line}: not {encoding.upper()} text (byte offset {e.start}: {e.reason})",
            hint="save the file as UTF-8 (or UTF-16 with a byte order mark) and import it again",
        ) from e
    return clean_text(text)


def file_text(item: Item, imported_from: str, added: date | None) -> str:
    """Return an excerpt file's text: YAML front matter with the item's provenance, the body."""
    values: dict[str, object] = {**item.meta, "title": item.title, "imported_from": imported_from}
    if added is not None:
        values["added"] = added
    meta = {key: values[key] for key in _KEY_ORDER if _present(values.get(key))}
    return _excerpt_text(meta, item.body)


def _excerpt_text(meta: dict[str, object], body: str) -> str:
    """An excerpt file: ``meta`` as YAML front matter (known keys in their order, then the
    rest as they come), then ``body``."""
    import yaml

    ordered = {key: meta[key] for key in _KEY_ORDER if key in meta}
    ordered |= {key: value for key, value in meta.items() if key not in ordered}
    # libyaml's safe dumper when built in: ten times faster than the pure-Python one
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    front = yaml.dump(ordered, Dumper=dumper, allow_unicode=True, sort_keys=False, width=10**6)
    return f"---\n{front}---\n\n{body}\n"


def _present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str | list | tuple):
        return bool(value)
    return True


_PEEK = re.compile(r"^(imported_from|book|location):[ \t]*(\S[^\r\n]*?)[ \t]*$", re.M)


def _peek(front: str) -> dict[str, str]:
    """The front matter's provenance values (imported_from, book, location), read without
    parsing the whole of it: a quoted value through the YAML library, a plain one as it is."""
    import yaml

    found: dict[str, str] = {}
    for key, raw in _PEEK.findall(front):
        value: object = raw
        if raw[0] in "'\"":
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                continue
        if isinstance(value, str):
            found[key] = value
    return found


@dataclass(slots=True)
class Folder:
    """What the content folder holds, for telling an entry already there: each file by the
    dedupe key of its text (and of its highlight alone, when a note is kept under it), the
    names taken, each imported file's ``imported_from``, and the placed highlights by book."""

    keys: dict[str, list[str]] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    origins: dict[str, str] = field(default_factory=dict)
    passages: dict[str, list[Passage]] = field(default_factory=dict)

    def add(self, name: str, body: str, meta: Mapping[str, object]) -> None:
        """Know the file ``name`` holding ``body`` with this provenance."""
        passage = passage_of(body)
        keys = [dedupe_key(body)]
        if passage is not body:  # a note under it: the highlight alone is known too
            keys.append(dedupe_key(passage))
        for key in keys:
            self.keys.setdefault(key, []).append(name)
        book, origin = meta.get("book"), meta.get("imported_from")
        if isinstance(origin, str):
            self.origins[name] = origin
        where = placed(meta.get("location"), body, name) if isinstance(book, str) else None
        if where is not None and isinstance(book, str):
            self.passages.setdefault(book, []).append(where)

    def same_passage(self, item: Item) -> str | None:
        """The file holding a highlight of the passage ``item`` highlights, if any."""
        book = item.meta.get("book")
        mine = placed(item.meta.get("location"), item.body, "")
        if mine is None or not isinstance(book, str):
            return None
        return next((p.name for p in self.passages.get(book, ()) if overlap(mine, p)), None)


def existing_keys(content_dir: Path) -> Folder:
    """What content_dir holds (see :class:`Folder`), its files read in name order."""
    folder = Folder()
    for entry in sorted(os.scandir(content_dir), key=lambda e: e.name):
        folder.taken.add(entry.name.lower())
        if entry.name.startswith(".") or not entry.name.endswith(".md"):
            continue
        try:
            raw = Path(entry.path).read_bytes()
        except OSError:
            continue
        text = clean_text(raw.decode("utf-8", "replace"))
        try:
            front, body, _line = split_front_matter(text)
        except ValueError:
            front, body = None, text
        folder.add(entry.name, body.strip(), _peek(front) if front else {})
    return folder


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write_items` did: files made, files brought up to date, files adopted,
    duplicates, and notes for the user (an update that could not be written)."""

    created: tuple[Path, ...]
    updated: tuple[Path, ...]
    duplicates: tuple[str, ...]
    notes: tuple[str, ...] = ()
    adopted: tuple[Path, ...] = ()


def write_items(
    items: Iterable[Item], content_dir: Path, imported_from: str, added: date | None
) -> Written:
    """Write each item not yet in content_dir (by dedupe_key, or as a highlight of a passage
    already there) as <slug>.md.

    Each file appears whole or not at all: it is written under a hidden temporary name, the
    data is flushed to disk, and only then is it linked under its real name. An item whose
    earlier version (``Item.replaces``) is what a file holds replaces that file's body, so
    the excerpt keeps its name and its place in the rotation. A file that already holds an
    item and was imported before excerpts named their file (see :func:`provenance.adopts`)
    is adopted: named after ``imported_from`` from now on.
    """
    try:
        content_dir.mkdir(parents=True, exist_ok=True)
        folder = existing_keys(content_dir)
    except OSError as e:
        raise ContentError(
            f"cannot use content folder {content_dir}: {e.strerror or e}",
            hint="point the import at a folder you can write to",
        ) from e
    planned: list[tuple[str, bytes]] = []
    updated: list[Path] = []
    adopted: list[Path] = []
    duplicates: list[str] = []
    notes: list[str] = []
    for item in items:
        key = dedupe_key(item.body)
        if not key:
            continue
        where = f"{item.where} " if item.where else ""
        if key in folder.keys:
            duplicates.append(f'{where}"{item.title}": already in {folder.keys[key][0]}')
            adopted += _adopt(content_dir, folder, folder.keys[key], imported_from)
            continue
        noted = len(notes)
        path = _update_earlier(content_dir, folder.keys, item, imported_from, notes)
        if path is not None:
            updated.append(path)
            folder.add(path.name, item.body, item.meta)
            continue
        passage = passage_of(item.body)
        same = folder.keys.get(dedupe_key(passage), [None])[0] if passage != item.body else None
        if len(notes) == noted:  # an edit no file could take comes in new, as the note says
            same = same or folder.same_passage(item)
        if same is not None:
            duplicates.append(f'{where}"{item.title}": already in {same} (the same passage)')
            adopted += _adopt(content_dir, folder, [same], imported_from)
            continue
        name = _free_name(slugify(item.title), folder.taken)
        folder.add(name, item.body, item.meta)
        folder.origins[name] = imported_from
        planned.append((name, file_text(item, imported_from, added).encode("utf-8")))
    written = _create_all(content_dir, planned, folder.taken)
    return Written(written, tuple(updated), tuple(duplicates), tuple(notes), tuple(adopted))


def _adopt(content_dir: Path, folder: Folder, names: Sequence[str], key: str) -> list[Path]:
    """The files of ``names`` that ``key`` adopts, renamed in their front matter (a file
    already named after it, or of the user's own, or another file's, is left as it is)."""
    done: list[Path] = []
    for name in names:
        origin = folder.origins.get(name)
        if location_of(origin) == location_of(key) or not adopts(origin, key):
            continue
        if adopt(content_dir / name, key):
            folder.origins[name] = key
            done.append(content_dir / name)
    return done


# What an edit of an entry changes besides its text: where it is and when it was made.
_EDITED_KEYS = ("location", "highlighted")


def _update_earlier(
    content_dir: Path,
    keys: dict[str, list[str]],
    item: Item,
    imported_from: str,
    notes: list[str],
) -> Path | None:
    """The file this import made from an earlier version of ``item`` (``Item.replaces``),
    given the item's text; None when there is none, or it cannot be written (then the item
    comes in as a new excerpt, and ``notes`` says why)."""
    for older in dict.fromkeys(map(dedupe_key, item.replaces)):
        for name in keys.get(older, ()):
            try:
                path = _update(content_dir / name, older, item, imported_from)
            except OSError as e:
                notes.append(
                    f"{name}: cannot take the edited highlight ({e.strerror or e}); it comes "
                    "in as a new excerpt beside it, so remove the one you do not want"
                )
                return None
            if path is not None:
                return path
    return None


def _update(path: Path, older: str, item: Item, imported_from: str) -> Path | None:
    """Give the file at ``path`` the item's text, location and date, keeping the rest of
    its front matter (what the user added or corrected) and its title if the user changed
    it; replaced atomically. None, and the file untouched, unless it still holds ``older``
    and was imported from the same kind of source (a file of the user's own is theirs);
    OSError, and the file as it was, when it cannot be written."""
    from newsletter_digest.config import yamlload

    try:
        front, body, _line = split_front_matter(clean_text(path.read_text(encoding="utf-8")))
        meta = yamlload.load(front) if front and front.strip() else {}
    except (OSError, UnicodeDecodeError, ValueError, yamlload.YamlError):
        return None
    if not isinstance(meta, dict) or older not in (dedupe_key(body), dedupe_key(passage_of(body))):
        return None
    origin = str(meta.get("imported_from") or "")
    if not origin or origin.split(":", 1)[0] != imported_from.split(":", 1)[0]:
        return None
    if adopts(origin, imported_from):  # an import from before excerpts named their file
        meta["imported_from"] = imported_from
    if meta.get("title") == first_sentence_title(body.strip()):  # the one made on import
        meta["title"] = item.title
    for key in _EDITED_KEYS:
        if _present(item.meta.get(key)):
            meta[key] = item.meta[key]
    target = path.resolve()  # through a symbolic link to the file it names: the link stays
    mode = stat.S_IMODE(target.stat().st_mode)  # the user's, not the umask's
    atomic_write(target, _excerpt_text(meta, item.body).encode(), mode=mode)
    return path


def _free_name(slug: str, taken: set[str]) -> str:
    """Return <slug>.md or <slug>-2.md, -3, ... whichever is not taken, and take it."""
    number = 1
    while True:
        name = f"{slug}.md" if number == 1 else f"{slug}-{number}.md"
        number += 1
        if name.lower() not in taken:
            taken.add(name.lower())
            return name


def _create_all(
    content_dir: Path, planned: Sequence[tuple[str, bytes]], taken: set[str]
) -> tuple[Path, ...]:
    """Create the files atomically: temporary files first, then each fsynced (after all are
    written, so the disk takes them in one go), then links, then the folder fsynced: a
    crash leaves each file whole or absent."""
    if not planned:
        return ()
    temps: list[Path] = []
    written: list[Path] = []
    try:
        for _name, data in planned:
            tmp = content_dir / f".import-{os.urandom(6).hex()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        fsync_files(temps)
        for (name, _data), tmp in zip(planned, temps, strict=True):
            written.append(_link_free(content_dir, name, tmp, taken))
        fsync_dir(content_dir)
    except OSError as e:
        raise ContentError(
            f"cannot write to {content_dir}: {e.strerror or e} "
            f"({len(written)} of {len(planned)} files written, each complete)",
            hint="check that the content folder is writable and the disk is not full",
        ) from e
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    return tuple(written)


def _link_free(content_dir: Path, name: str, tmp: Path, taken: set[str]) -> Path:
    """Give tmp the name (or the next free one, if a file of that name appeared meanwhile)."""
    while True:
        target = content_dir / name
        try:
            os.link(tmp, target)
            return target
        except FileExistsError:
            name = _free_name(name.removesuffix(".md"), taken)
        except OSError:  # a file system without hard links
            if target.exists():
                name = _free_name(name.removesuffix(".md"), taken)
                continue
            tmp.replace(target)
            return target
