"""`digest import` and `digest sources`: excerpts brought into the content folder, once
from a file or URL, or from the configured sources."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from newsletter_digest.cli_common import config_of, rel, warn
from newsletter_digest.clock import local_now
from newsletter_digest.errors import DigestError


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
    from newsletter_digest.config.schema import ImportSettings
    from newsletter_digest.content.refresh import import_once

    config = _import_config(ctx, target)
    limits = config.settings.imports if config is not None else ImportSettings()
    content_dir = target if target is not None else config.settings.content
    failed: list[DigestError] = []
    added = local_now().date()
    for source in sources:
        try:
            report = import_once(
                config,
                source,
                content_dir,
                format=fmt,
                added=added,
                max_len=max_length,
                max_bytes=limits.max_bytes,
                deadline=limits.fetch_deadline,
            )
        except DigestError as e:
            if len(sources) == 1:
                raise
            click.secho(f"error: {source}: {e.message}", fg="red", err=True)
            if e.hint:
                click.echo(f"hint: {e.hint}", err=True)
            failed.append(e)
            continue
        _say(source, report)
    if failed:
        sys.exit(1)


def _import_config(ctx: click.Context, target: Path | None) -> Any:
    """The config an import acts on, loaded once; None for ``--to`` with no config file
    (the default ``imports`` limits then apply; a config that is there but broken stops it)."""
    from newsletter_digest.config.loading import find_config

    if target is not None and not find_config(ctx.obj.get("config_path")).exists():
        return None
    return config_of(ctx)


def _say(source: str, report: Any) -> None:
    """What one source's import did: each file added, updated or adopted, then a summary."""
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
    from newsletter_digest.content.refresh import refresh as refresh_now
    from newsletter_digest.content.refresh import statuses
    from newsletter_digest.state.store import open_state

    config = config_of(ctx)
    if not config.settings.sources:
        click.echo("no sources: add some under 'sources' in digest.yaml (see docs/sources.md)")
        return
    now = {s.key: s.outcome for s in refresh_now(config)} if refresh else {}
    with open_state(config.settings.state) as state:
        for status in statuses(config, state):
            when = status.refreshed_at or "never refreshed"
            line = f"{status.key}\n  last refresh: {when}; {status.total} excerpts in all"
            if status.key in now:
                line += f"; now: {now[status.key]}"
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
