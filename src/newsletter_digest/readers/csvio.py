"""Readers in and out as CSV, in the shapes other tools export.

Import reads the header row to find the columns, whatever the tool called them: Mailchimp
(``Email Address``, ``First Name``, ``Last Name``, ``OPTIN_TIME``; the status is in the
file's name or a ``Status`` column), listmonk (``email``, ``name``, ``status`` with
enabled/blocklisted, ``created_at``) and plain ``email,name,status,created``. Bad rows are
reported with their line numbers; the good ones go in; importing again changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsletter_digest.readers import book
from newsletter_digest.state.store import State

# Column names other tools use (compared lower-cased, spaces and dashes as underscores).
EMAIL = ("email", "email_address", "e_mail", "mail", "address")
NAME = ("name", "full_name", "display_name")
FIRST, LAST = ("first_name", "fname", "firstname"), ("last_name", "lname", "lastname")
STATUS = ("status", "member_status", "subscription_status", "state")
CREATED = ("created", "created_at", "optin_time", "confirm_time", "subscribed_at", "timestamp")
# Their status words, as ours.
STATUS_WORDS = {
    **dict.fromkeys(("active", "subscribed", "enabled", "confirmed", "opted_in"), "active"),
    **dict.fromkeys(("unsubscribed", "blocklisted", "blacklisted", "opted_out"), "unsubscribed"),
    **dict.fromkeys(("cleaned", "bounced", "hard_bounce"), "bounced"),
    **dict.fromkeys(("complained", "spam", "abuse"), "complained"),
    **dict.fromkeys(("pending", "unconfirmed", "transactional"), "unconfirmed"),
}
MAX_BYTES = 200 * 1024 * 1024


@dataclass
class ImportReport:
    """What an import did to the book, one count per outcome, and the bad rows."""

    new: Counter[str] = field(default_factory=Counter)  # status -> readers added with it
    changed: Counter[str] = field(default_factory=Counter)  # status -> readers set to it now
    kept: Counter[str] = field(default_factory=Counter)  # status -> refusals the file did not undo
    unchanged: int = 0  # already in the book as the file has them
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, why)

    @property
    def added(self) -> int:
        """How many readers are new in the book."""
        return sum(self.new.values())


def _column(fields: list[str], names: tuple[str, ...]) -> str | None:
    norm = {f.strip().lower().replace(" ", "_").replace("-", "_"): f for f in fields}
    return next((norm[n] for n in names if n in norm), None)


def _status_from_name(path: Path) -> str | None:
    """Mailchimp exports one file per status: subscribed_..., unsubscribed_..., cleaned_..."""
    stem = path.name.lower()
    for word in ("unsubscribed", "cleaned", "subscribed"):
        if stem.startswith(word):
            return STATUS_WORDS[word]
    return None


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file in UTF-8 (a BOM is fine); ValueError if unusable."""
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path} is larger than {MAX_BYTES // 2**20} MiB")
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or _column(list(reader.fieldnames), EMAIL) is None:
        raise ValueError(f"{path} has no email column (looked for: {', '.join(EMAIL)})")
    for row in reader:
        yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}


def import_file(state: State, path: Path, now: str) -> ImportReport:
    """Add the readers of a CSV export. Suppressed readers stay suppressed; a row that says
    a reader unsubscribed, bounced or complained suppresses them. Every outcome is counted."""
    report = ImportReport()
    rows = read_rows(path)
    first = next(rows, None)
    if first is None:
        return report
    fields = list(first[1])
    email, name, status = (_column(fields, c) for c in (EMAIL, NAME, STATUS))
    first_name, last_name, created = (_column(fields, c) for c in (FIRST, LAST, CREATED))
    assert email is not None
    default_status = _status_from_name(path) or "active"
    bad = report.bad
    for line, row in (first, *rows):
        address = row[email].strip()
        display = row[name].strip() if name else ""
        if not display and (first_name or last_name):
            parts = (row[first_name] if first_name else "", row[last_name] if last_name else "")
            display = " ".join(p.strip() for p in parts if p.strip())
        word = row[status].strip().lower().replace(" ", "_") if status else ""
        ours = STATUS_WORDS.get(word, default_status) if word else default_status
        if word and word not in STATUS_WORDS:
            bad.append((line, f"unknown status {word!r}"))
            continue
        try:
            reader, new = book.add(
                state,
                address,
                name=display,
                source="import",
                now=now,
                status=ours,
                consent_at=(row[created].strip() or None) if created else None,
            )
        except ValueError as e:
            bad.append((line, str(e) if address else "no email address"))
            continue
        if new:
            report.new[reader.status] += 1
        elif ours in book.SUPPRESSED and reader.status not in book.SUPPRESSED:
            book.set_status(state, reader.id, ours, f"import of {path.name}", now)
            report.changed[ours] += 1
        elif reader.status in book.SUPPRESSED and ours not in book.SUPPRESSED:
            report.kept[reader.status] += 1
        else:
            report.unchanged += 1
    return report


def export_file(state: State, path: Path, statuses: tuple[str, ...] = ()) -> int:
    """Write the book (or some statuses of it) as ``email,name,status,created``; how many."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "status", "created", "changed", "source", "reason"])
        for r in book.readers(state, statuses):
            writer.writerow(
                [r.address, r.name, r.status, r.created_at, r.changed_at, r.source, r.reason]
            )
            count += 1
    return count
