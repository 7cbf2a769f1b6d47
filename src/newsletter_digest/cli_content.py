"""`digest import` and `digest sources`: excerpts brought into the content folder, once
from a file or URL, or from the configured sources."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter_digest.cli_common import config_of, rel, warn
from newsletter_digest.clock import local_now

if TYPE_CHECKING:
    from newsletter_digest.app.content import SourceImport


@click.command("import")
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["teasers", "markdown", "feed", "kindle", "readwise", "instapaper"]),
    help="Format of the sources (default: picked from each file's name and contents; "
    "a URL is a feed).",
)
@click.option(
    "--to",
    "target",
    type=click.Path(file_okay=False, path_type=Path),
    help="Content folder to write to (default: 'content' from the config).",
)
@click.option(
    "--max-length",
    default=600,
    show_default=True,
    type=click.IntRange(80, 100_000),
    help="Feeds: cut each entry's text at a sentence end near this many characters.",
)
@click.pass_context
def import_(
    ctx: click.Context,
    sources: tuple[str, ...],
    fmt: str | None,
    target: Path | None,
    max_length: int,
) -> None:
    """Turn SOURCES (files or feed URLs) into excerpt files in the content folder.

    Formats: plain-text teasers (.txt), Markdown files, RSS/Atom feeds (file or http(s) URL),
    Kindle's My Clippings.txt, Readwise and Instapaper CSV exports. Anything already in the
    content folder is not added again.
    """
    from newsletter_digest.app.content import import_sources

    imported = import_sources(
        _import_config(ctx, target),
        sources,
        fmt=fmt,
        target=target,
        max_length=max_length,
        added=local_now().date(),
        each=_say,
    )
    if imported.failed:
        sys.exit(1)


def _import_config(ctx: click.Context, target: Path | None) -> Any:
    """The config an import acts on, loaded once; None for ``--to`` with no config file
    (the default ``imports`` limits then apply; a config that is there but broken stops it)."""
    from newsletter_digest.config.loading import find_config

    if target is not None and not find_config(ctx.obj.get("config_path")).exists():
        return None
    return config_of(ctx)


def _say(done: SourceImport) -> None:
    """What one source's import did: each file added, updated or adopted, then a summary;
    or, for one of several sources, the error that stopped it."""
    source, report, error = done.source, done.report, done.error
    if report is None:
        assert error is not None  # a source either reports what it did or failed
        click.secho(f"error: {source}: {error.message}", fg="red", err=True)
        if error.hint:
            click.echo(f"hint: {error.hint}", err=True)
        return
    if report.not_modified:
        click.echo(f"{source}: not modified since the last fetch; nothing to import")
        return
    for path in report.written:
        click.echo(f"added {rel(path)}")
    for path in report.updated:
        click.echo(f"updated {rel(path)} (the highlight was edited since)")
    for path in report.adopted:
        click.echo(f"adopted {rel(path)} (imported from this file before)")
    for note in report.notes:
        warn(f"{source}: {note}")
    if report.duplicates:  # one line: a feed can repeat an entry 100,000 times
        n = len(report.duplicates)
        where = "already in the content folder, or earlier in the source"
        click.echo(f"{n:,} duplicate{'s' if n != 1 else ''} skipped ({where})")
    for skip in report.skipped:
        click.echo(f"skipped {skip}")
    click.echo(
        f"{source} ({report.format}): {len(report.written)} added, "
        + (f"{len(report.updated)} updated, " if report.updated else "")
        + f"{len(report.duplicates)} duplicate, {len(report.skipped)} skipped"
    )


@click.command()
@click.option("--refresh", is_flag=True, help="Refresh them now (as build and run do).")
@click.pass_context
def sources(ctx: click.Context, refresh: bool) -> None:
    """The sources that fill the content folder: last refresh, excerpts added, last error."""
    from newsletter_digest.app.content import list_sources

    config = config_of(ctx)
    if not config.settings.sources:
        click.echo("no sources: add some under 'sources' in digest.yaml (see docs/sources.md)")
        return
    listed = list_sources(config, refresh_now=refresh)
    for status in listed.sources:
        when = status.refreshed_at or "never refreshed"
        line = f"{status.key}\n  last refresh: {when}; {status.total} excerpts in all"
        if status.key in listed.now:
            line += f"; now: {listed.now[status.key]}"
        click.echo(line)
        if status.error:
            click.echo(f"  last error: {status.error}")
        if status.skipped:
            click.echo(
                f"  skipped {status.skipped} entries when last read "
                f"(`digest import {status.location}` names each, and why)"
            )
        for note in status.notes:
            click.echo(f"  note: {note}")
