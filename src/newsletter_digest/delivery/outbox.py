"""Put a built issue where it goes: the outbox folder, one folder per issue.

An issue's files are written into a hidden temp folder, fsynced, and the folder is renamed
into place in one step, so the outbox never holds half an issue and never overwrites one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import NamedTuple

from newsletter_digest.errors import OutboxError
from newsletter_digest.files import fsync_dir, private_folder, write_new
from newsletter_digest.models import IssueRecord, Pick, folder_name

MANIFEST = "issue.json"
_FOLDER = re.compile(r"^issue-(\d{4,})$")


def issue_files(number: int, html: bytes, text: bytes, eml: bytes) -> dict[str, bytes]:
    """The files every issue leaves: a page, the plain text, the complete message."""
    stem = folder_name(number)
    return {f"{stem}.html": html, f"{stem}.txt": text, f"{stem}.eml": eml}


def manifest(record: IssueRecord) -> bytes:
    """What the state records of an issue, kept beside its files to recover a lost record."""
    data = {
        "number": record.number,
        "date": record.date.isoformat(),
        "created_at": record.created_at,
        "subject": record.subject,
        "message_id": record.message_id,
        "picks": [
            {"excerpt_id": p.excerpt_id, "cycle": p.cycle, "title": t, "section": p.section}
            for p, t in zip(record.picks, record.titles, strict=True)
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n"


def _outbox_error(outbox: Path, e: OSError) -> OutboxError:
    return OutboxError(
        f"cannot write to the outbox {outbox}: {e.strerror or e}",
        "make the folder writable, or set 'outbox' in digest.yaml to a folder you can write",
    )


def write_issue(outbox: Path, number: int, files: Mapping[str, bytes]) -> Path:
    """Write one issue's files atomically as ``outbox/issue-NNNN/``; never overwrite."""
    final = outbox / folder_name(number)
    if final.exists():
        raise OutboxError(
            f"{final} already exists; an issue in the outbox is never overwritten",
            "move that folder away if it is not a real issue, then build again",
        )
    tmp = outbox / f".{final.name}.tmp-{os.getpid()}"
    try:
        private_folder(outbox)  # not for publishing: the archive has its own folder
    except OSError as e:
        raise _outbox_error(outbox, e) from e
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for name, data in files.items():
            write_new(tmp / name, data)
        fsync_dir(tmp)
        if final.exists():  # made by another process since the check above
            raise FileExistsError(final)
        tmp.rename(final)
        fsync_dir(outbox)
    except FileExistsError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutboxError(
            f"{final} already exists; an issue in the outbox is never overwritten",
            "another digest command made this issue at the same time; run history to see it",
        ) from e
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _outbox_error(outbox, e) from e
    return final


def issue_folders(outbox: Path) -> list[tuple[int, str]]:
    """The complete issue folders in the outbox: (number, name) of each, in no order.

    One directory listing, whose entries say which are folders (no stat per issue): every
    build looks, and the outbox grows by one folder an issue.
    """
    found = []
    try:
        with os.scandir(outbox) as entries:
            for entry in entries:
                match = _FOLDER.match(entry.name)
                if match and entry.is_dir():
                    found.append((int(match.group(1)), entry.name))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return found


def issue_numbers(outbox: Path) -> list[int]:
    """Numbers of the complete issue folders in the outbox, ascending."""
    return sorted({number for number, _ in issue_folders(outbox)})


class Orphan(NamedTuple):
    """An issue folder in the outbox that the state never recorded (a build was cut short)."""

    folder: Path
    record: IssueRecord | None


def read_manifest(folder: Path) -> IssueRecord | None:
    """The record kept in an issue folder, or None when it is missing or unreadable."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        picks = data["picks"]
        return IssueRecord(
            number=int(data["number"]),
            date=date.fromisoformat(data["date"]),
            created_at=str(data["created_at"]),
            subject=str(data["subject"]),
            message_id=str(data["message_id"]),
            folder=folder.name,
            picks=tuple(
                Pick(str(p["excerpt_id"]), int(p["cycle"]), str(p.get("section", "")))
                for p in picks
            ),
            titles=tuple(str(p["title"]) for p in picks),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def orphans(outbox: Path, last_recorded: int) -> list[Orphan]:
    """Issue folders numbered above the last recorded issue, oldest first."""
    return [
        Orphan(outbox / folder_name(n), read_manifest(outbox / folder_name(n)))
        for n in issue_numbers(outbox)
        if n > last_recorded
    ]


def remove_stale_temp(outbox: Path) -> None:
    """Delete temp folders left by a build that was killed while writing."""
    if not outbox.is_dir():
        return
    for entry in outbox.iterdir():
        if entry.name.startswith(".issue-") and ".tmp-" in entry.name:
            shutil.rmtree(entry, ignore_errors=True)
