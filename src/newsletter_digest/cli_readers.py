"""`digest readers`: the reader book from the command line (list, add, remove, import,
export). Each command calls its use case (app/readers.py) and says what it did."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from newsletter_digest.app import readers as book_of
from newsletter_digest.cli_common import config_of
from newsletter_digest.readers import book


@click.group()
def readers() -> None:
    """The readers: who gets the digest, and who refused it (kept for good)."""


@readers.command("list")
@click.option("--status", type=click.Choice(book.STATUSES), help="Only readers in this status.")
@click.pass_context
def list_(ctx: click.Context, status: str | None) -> None:
    """List readers: address, status, source, since when, and why (for a refusal).

    One line per reader, then the counts as the listing's own last line (on stdout with the
    rows, so no capture of the two streams can run it into the last row)."""

    def show(reader: book.Reader) -> None:
        listed = "" if reader.listed else " (no longer in the config)"
        reason = " ".join(reader.reason.split())  # a bounce's reply may span lines
        why = f"  {reason}" if reader.status in book.SUPPRESSED else ""
        click.echo(
            f"{reader.mailbox:<40} {reader.status:<12} {reader.source:<7}"
            f" {reader.changed_at}{listed}{why}"
        )

    listed = book_of.list_readers(config_of(ctx), status, show)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(listed.counts.items()))
    click.echo(f"{listed.shown} shown; {counts or 'no readers yet'}")


@readers.command()
@click.argument("address")
@click.option("--name", help="The reader's name, shown in the To header.")
@click.pass_context
def add(ctx: click.Context, address: str, name: str | None) -> None:
    """Add a reader. A reader who unsubscribed, bounced or complained is not re-added."""
    added = book_of.add_reader(config_of(ctx), address, name)
    reader = added.reader
    if added.new:
        click.echo(f"added {reader.mailbox}")
    else:
        click.echo(f"{reader.address} is already a reader ({reader.status})")


@readers.command()
@click.argument("address")
@click.pass_context
def remove(ctx: click.Context, address: str) -> None:
    """Unsubscribe a reader. The row stays, so the address stays suppressed."""
    removed = book_of.remove_reader(config_of(ctx), address)
    if removed.already:
        click.echo(f"{removed.reader.address} was unsubscribed already")
    else:
        click.echo(f"unsubscribed {removed.reader.address}")


@readers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_(ctx: click.Context, file: Path) -> None:
    """Import readers from a CSV export (Mailchimp, listmonk, or email,name,status,created).

    Bad rows are listed with their line numbers and the rest go in; a file that is not
    readable CSV imports nothing; importing the same file again changes nothing; suppressed
    readers stay suppressed. A progress bar shows on a terminal.
    """

    def skipped(line: int, why: str) -> None:
        click.echo(f"  {file}:{line}: skipped: {why}")

    config = config_of(ctx)
    with _progress(file) as advance:
        report = book_of.import_readers(config, file, skipped, advance)
    click.echo(f"{file}: {_outcomes(report)}")
    if report.skipped:
        click.echo(f"  {report.skipped} rows skipped")


def _outcomes(report: book_of.ReadersImported) -> str:
    """Every change an import made, and what it left: '1 new, 1 unsubscribed, 3 unchanged'."""
    new = f"{report.added} new"
    if set(report.new) - {"active"}:
        new += f" ({', '.join(f'{n} {status}' for status, n in report.new.items())})"
    parts = [new, *(f"{n} {status}" for status, n in report.changed.items())]
    parts += [f"{n} kept {status} (a refusal stays)" for status, n in report.kept.items()]
    if report.unchanged:
        parts.append(f"{report.unchanged} unchanged (already readers)")
    return ", ".join(parts)


@contextmanager
def _progress(file: Path) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for an import's two passes, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield lambda read: None
        return
    size = 2 * file.stat().st_size  # read and checked, then added to the book
    with click.progressbar(length=size, label=f"importing {file.name}", file=sys.stderr) as bar:
        yield bar.update


@readers.command()
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--status", type=click.Choice(book.STATUSES), help="Only readers in this status.")
@click.pass_context
def export(ctx: click.Context, file: Path, status: str | None) -> None:
    """Export the readers as CSV (email, name, status, created, changed, source, reason)."""
    exported = book_of.export_readers(config_of(ctx), file, status)
    click.echo(f"{exported.count} readers written to {exported.file}")
