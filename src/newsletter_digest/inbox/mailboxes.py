"""The mailboxes returned mail is read from: a Maildir or an mbox file.

A Maildir's processed messages are moved, by one rename each, into its ``.processed``
folder (Maildir++), so the next run does not see them again; an mbox is only read, and
what was processed is remembered by the state. Messages past the size cap are not read.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from newsletter_digest.errors import DigestError
from newsletter_digest.inbox.classify import MAX_BYTES

_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)


class InboxError(DigestError):
    """The mailbox cannot be read."""


class Item(NamedTuple):
    """One message in a mailbox: a stable key, its bytes (None: too large to read)."""

    key: str
    raw: bytes | None
    path: Path | None  # a Maildir file, which can be moved once processed
    uid: str | None = None  # an IMAP message's UID


class FileMailbox:
    """A Maildir or mbox on disk, with the same calls as the IMAP one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> FileMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def items(self) -> Iterator[Item]:
        return read(self.path)

    def done(self, item: Item) -> None:
        """A processed message leaves a Maildir's inbox; an mbox is never rewritten."""
        if item.path is not None:
            move_processed(item, self.path)


def message_key(raw: bytes) -> str:
    """What identifies a message across runs: a hash of its bytes (a Message-ID can be
    forged or missing; the bytes of a file in a mailbox do not change)."""
    return hashlib.sha256(raw).hexdigest()


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def read(path: Path) -> Iterator[Item]:
    """Every message in the Maildir or mbox at ``path``; InboxError when it is neither."""
    if path.is_dir():
        if not is_maildir(path):
            raise InboxError(
                f"{path} is a folder but not a Maildir (no cur/, new/ and tmp/)",
                "point at a Maildir, or at an mbox file",
            )
        yield from _maildir(path)
    elif path.is_file():
        yield from _mbox(path)
    else:
        raise InboxError(f"there is no mailbox at {path}", "pass a Maildir folder or an mbox")


def _maildir(path: Path) -> Iterator[Item]:
    for sub in ("new", "cur"):
        for entry in sorted(os.scandir(path / sub), key=lambda e: e.name):
            if not entry.is_file() or entry.name.startswith("."):
                continue
            size = entry.stat().st_size
            raw = None if size > MAX_BYTES else Path(entry.path).read_bytes()
            key = message_key(raw) if raw is not None else f"{entry.name}:{size}"
            yield Item(key, raw, Path(entry.path))


def _mbox(path: Path) -> Iterator[Item]:
    """Each message of an mbox, as the standard library's ``mailbox.mbox`` gives its bytes
    (so a message's key is the same as before), found by one scan in C: the library calls
    ``tell()`` on every line, and a stranger's message of 3,000,000 short lines kept every
    later run busy for 20 s (an mbox is never rewritten)."""
    try:
        with path.open("rb") as handle, _mapped(handle) as data:
            for number, (start, stop) in enumerate(_mbox_spans(data)):
                if stop - start > MAX_BYTES:
                    yield Item(f"{path.name}:{number}:{stop - start}", None, None)
                else:
                    yield Item(message_key(data[start:stop]), data[start:stop], None)
    except (OSError, ValueError) as e:
        raise InboxError(f"cannot read the mbox {path}: {e}", "check it is an mbox file") from e


def _mapped(handle: BinaryIO) -> mmap.mmap | contextlib.nullcontext[bytes]:
    """The file's bytes without reading them into memory (an empty file has nothing to map)."""
    if os.fstat(handle.fileno()).st_size == 0:
        return contextlib.nullcontext(b"")
    return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def _mbox_spans(data: bytes | mmap.mmap) -> Iterator[tuple[int, int]]:
    """(start, stop) of each message's bytes: after its ``From `` line, up to the next one
    (less the blank line before it), as ``mailbox.mbox`` reads them."""
    froms = [m.start() for m in _FROM_LINE.finditer(data)]
    for n, at in enumerate(froms):
        end = froms[n + 1] if n + 1 < len(froms) else len(data)
        if end >= 2 and data[end - 1 : end] == b"\n" and data[end - 2 : end - 1] == b"\n":
            end -= 1  # the blank line that separates messages
        line_end = data.find(b"\n", at, end)
        yield (end if line_end < 0 else line_end + 1), end


def move_processed(item: Item, maildir: Path) -> None:
    """Move a processed Maildir message into ``.processed/cur`` (one rename)."""
    if item.path is None or not item.path.exists():
        return
    target = maildir / ".processed"
    for sub in ("cur", "new", "tmp"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    name = item.path.name if ":2," in item.path.name else f"{item.path.name}:2,S"
    item.path.replace(target / "cur" / name)
