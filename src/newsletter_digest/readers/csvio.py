"""Readers in and out as CSV, in the shapes other tools export.

Import reads the header row to find the columns, whatever the tool called them: Mailchimp
(``Email Address``, ``First Name``, ``Last Name``, ``OPTIN_TIME``; the status is in the
file's name or a ``Status`` column), listmonk (``email``, ``name``, ``status`` with
enabled/blocklisted, ``created_at``) and plain ``email,name,status,created``.

An import is a streaming batch job in two passes, so memory stays flat whatever the file's
length. The first pass reads the file once and writes nothing to the book: it checks every
row, reports each bad one (bad address, unknown status) with its line, and stages the good
ones in a temporary table; a file that is not readable CSV (an unbalanced quote, a huge
cell, bytes that are not UTF-8) stops it there, naming the line, and nothing is imported.
The second pass adds the staged rows to the book in batches, one transaction each, so the
server can record an unsubscribe between two batches. Importing again changes nothing, so
an interrupted import is finished by running it again.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from newsletter_digest.addresses import split_mailbox
from newsletter_digest.errors import ContentError, shorten
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
MAX_BYTES = 2 * 2**30  # a file
MAX_LINE = 2**20  # a line of it
CHUNK = 256 * 1024  # read at once
MAX_CELL = 64 * 1024  # a cell: an address is 254 characters at most, a name 100
BATCH = 5000  # rows per transaction
# A cell a spreadsheet would run as a formula (OWASP's CSV injection list); an export
# writes it after a single quote, and an import takes that quote off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HINT = "export the list as UTF-8 CSV with a header row; look at the file at that line"

Problem = Callable[[int, str], None]  # (line, why) of a row that is skipped
Progress = Callable[[int], None]  # bytes of the file read since the last call


@dataclass
class ImportReport:
    """What an import did to the book, one count per outcome, and the rows it skipped (each
    one reported with its line as it is found)."""

    new: Counter[str] = field(default_factory=Counter)  # status -> readers added with it
    changed: Counter[str] = field(default_factory=Counter)  # status -> readers set to it now
    kept: Counter[str] = field(default_factory=Counter)  # status -> refusals the file did not undo
    unchanged: int = 0  # already in the book as the file has them
    skipped: int = 0  # bad rows

    @property
    def added(self) -> int:
        """How many readers are new in the book."""
        return sum(self.new.values())


class _Columns(NamedTuple):
    email: int
    name: int | None
    first: int | None
    last: int | None
    status: int | None
    created: int | None


def _column(fields: list[str], names: tuple[str, ...]) -> int | None:
    norm = {f.strip().lower().replace(" ", "_").replace("-", "_"): i for i, f in enumerate(fields)}
    return next((norm[n] for n in names if n in norm), None)


def _status_from_name(path: Path) -> str | None:
    """Mailchimp exports one file per status: subscribed_..., unsubscribed_..., cleaned_..."""
    stem = path.name.lower()
    for word in ("unsubscribed", "cleaned", "subscribed"):
        if stem.startswith(word):
            return STATUS_WORDS[word]
    return None


def _broken(path: Path, line: int, why: str) -> ContentError:
    return ContentError(f"cannot import {path}: line {line}: {why}; nothing was imported", HINT)


def _lines(handle: BinaryIO, path: Path) -> Iterator[str]:
    """The file's lines as text, read in chunks: each one UTF-8, and none longer than
    MAX_LINE bytes (so memory stays bounded), else an error that names it. Lines end in
    LF, CRLF or CR, counted as the csv module counts them."""
    line, rest = 1, b""
    while chunk := handle.read(CHUNK):
        data = rest + chunk
        cut = (data.rfind(b"\n") + 1) or (data.rfind(b"\r") + 1)
        if cut == 0 and len(data) > MAX_LINE:
            raise _broken(path, line, f"the line is longer than {MAX_LINE // 2**20} MiB")
        whole, rest = data[:cut], data[cut:]
        yield from _text(whole, line, path)
        line += _breaks(whole)
    yield from _text(rest, line, path)


def _breaks(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _text(data: bytes, line: int, path: Path) -> io.StringIO:
    """Whole lines of the file, from ``line`` on, decoded (a BOM at the start dropped)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _broken(path, line + _breaks(data[: e.start]), "the line is not UTF-8") from None
    return io.StringIO(text.removeprefix("\ufeff") if line == 1 else text, newline="")


def _csv_why(e: csv.Error, lines: int) -> str:
    """What is wrong, in the file's terms, with a row that spans ``lines`` lines."""
    text = str(e)
    if "end of data" in text or ("field limit" in text and lines > 1):
        return 'a quote (") that opens a cell here is never closed'
    if "field limit" in text:
        return f"a cell is longer than {csv.field_size_limit() // 1024} KiB"
    return f"not valid CSV ({text})"


def _rows(handle: BinaryIO, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each non-empty row; ContentError naming the line where a row
    that is not valid CSV starts."""
    reader = csv.reader(_lines(handle, path), strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            ends = f" (read on to line {reader.line_num})" if reader.line_num > start else ""
            why = _csv_why(e, reader.line_num - start + 1)
            raise _broken(path, start, why + ends) from None
        if max(map(len, row), default=0) > MAX_CELL:
            raise _broken(path, start, f"a cell is longer than {MAX_CELL // 1024} KiB")
        if row:
            yield start, row
        start = reader.line_num + 1


def _plain(cell: str) -> str:
    """A cell as it was before an export kept a spreadsheet from running it."""
    return cell[1:] if cell[:1] == "'" and _formula(cell) else cell


class _Reading:
    """The rules that turn a row into a reader, from the header row and the file's name."""

    def __init__(self, path: Path, line: int, header: list[str]) -> None:
        email = _column(header, EMAIL)
        if email is None:
            looked = ", ".join(EMAIL)
            raise _broken(path, line, f"the header row has no email column (looked for: {looked})")
        self.columns = _Columns(
            email, *(_column(header, c) for c in (NAME, FIRST, LAST, STATUS, CREATED))
        )
        self.default_status = _status_from_name(path) or "active"

    def entry(self, row: list[str]) -> book.Entry:
        """The reader a row names; ValueError saying why it is not one."""
        size = len(row)
        email, name, first, last, status, created = [
            _plain(row[i]).strip() if i is not None and i < size else "" for i in self.columns
        ]
        word = status.lower().replace(" ", "_")
        if word and word not in STATUS_WORDS:
            raise ValueError(f"unknown status {shorten(word)}")
        if not email:
            raise ValueError("no email address")
        display, address = split_mailbox(email)
        name = name or " ".join(p for p in (first, last) if p) or display
        return book.Entry(
            address,
            book.clean_name(name) if name else "",
            STATUS_WORDS[word] if word else self.default_status,
            created or None,
        )


def _entries(
    path: Path, handle: BinaryIO, progress: Progress
) -> Iterator[tuple[int, book.Entry | ValueError]]:
    """(line, reader or why not) of each row after the header, reporting progress."""
    rows = _rows(handle, path)
    header = next(rows, None)
    if header is None:
        return
    reading = _Reading(path, *header)
    done = handle.tell()
    progress(done)
    for count, (line, row) in enumerate(rows, 1):
        try:
            yield line, reading.entry(row)
        except ValueError as e:
            yield line, e
        if count % BATCH == 0:
            progress(handle.tell() - done)
            done = handle.tell()
    progress(handle.tell() - done)


def import_file(
    state: State,
    path: Path,
    now: str,
    on_problem: Problem = lambda line, why: None,
    progress: Progress = lambda read: None,
) -> ImportReport:
    """Add the readers of a CSV export (see the module's doc for the two passes).

    Suppressed readers stay suppressed; a row that says a reader unsubscribed, bounced or
    complained suppresses them. ContentError, naming the line, if the file is not CSV.
    """
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ContentError(f"{path} is larger than {MAX_BYTES // 2**30} GiB", HINT)
    report = ImportReport()
    book.unstage(state)
    try:
        staged = _stage(state, path, report, on_problem, progress)
        batches = book.add_staged(
            state, BATCH, source="import", reason=f"import of {path.name}"[:500], now=now
        )
        done = 0
        for outcome in batches:
            report.new.update(outcome.new)
            report.changed.update(outcome.changed)
            report.kept.update(outcome.kept)
            report.unchanged += outcome.rows - sum(
                sum(c.values()) for c in (outcome.new, outcome.changed, outcome.kept)
            )
            progress(size * (done + outcome.rows) // staged - size * done // staged)
            done += outcome.rows
    finally:
        book.unstage(state)
    return report


def _stage(
    state: State, path: Path, report: ImportReport, on_problem: Problem, progress: Progress
) -> int:
    """The first pass: every row read and checked, the good ones staged, the bad ones
    reported and counted; how many were staged. The book is not touched."""
    staged = 0
    batch: list[book.Entry] = []
    with path.open("rb") as handle:
        for line, entry in _entries(path, handle, progress):
            if isinstance(entry, ValueError):
                report.skipped += 1
                on_problem(line, str(entry))
                continue
            batch.append(entry)
            if len(batch) == BATCH:
                book.stage(state, batch)
                staged += len(batch)
                batch.clear()
    book.stage(state, batch)
    return staged + len(batch)


def _formula(cell: str) -> bool:
    """Whether a spreadsheet would run the cell, or an import take a quote off it."""
    return cell.lstrip("'").startswith(FORMULA_STARTS)


def _safe(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula (after any
    quotes, so that an import gives back exactly the cell) gets a single quote."""
    return f"'{cell}" if _formula(cell) else cell


def export_file(state: State, path: Path, statuses: tuple[str, ...] = ()) -> int:
    """Write the book (or some statuses of it) as ``email,name,status,created``; how many.

    A cell that starts like a formula (``=``, ``+``, ``-``, ``@``, tab, CR, after any single
    quotes: a name from the subscribe form, say) is written after one more single quote; an
    import takes it off again, so a round trip keeps every cell as it was.
    """
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "status", "created", "changed", "source", "reason"])
        for r in book.readers(state, statuses):
            cells = (r.address, r.name, r.status, r.created_at, r.changed_at, r.source, r.reason)
            writer.writerow([_safe(cell) for cell in cells])
            count += 1
    return count
