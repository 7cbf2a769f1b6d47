"""`digest state`: back up the state database while the newsletter runs, and restore it."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter_digest.app.state_admin import backup_state, restore_state
from newsletter_digest.cli_common import config_of


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@click.group()
def state() -> None:
    """The state database: issues, deliveries, readers. Back it up, restore it."""


@state.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup_(ctx: click.Context, file: Path) -> None:
    """Write a consistent copy of the state to FILE (safe while serve and send run).

    The copy holds the link-signing secret too, so keep it as private as the state.
    """
    info = backup_state(config_of(ctx), file)
    click.echo(
        f"backed up to {info.target}: {_count(info.issues, 'issue')}, "
        f"{_count(info.readers, 'reader')} "
        f"(schema {info.schema}{', with the link secret' if info.with_secret else ''})"
    )


@state.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a state that holds issues or readers.")
@click.pass_context
def restore_(ctx: click.Context, file: Path, force: bool) -> None:
    """Replace the state with the backup FILE (checked first: a state this release reads).

    Stop `digest run` and senders first; a running `digest serve` may stay up.
    """
    info = restore_state(config_of(ctx), file, force=force)
    click.echo(
        f"restored {info.source} into {info.target}: {_count(info.issues, 'issue')}, "
        f"{_count(info.readers, 'reader')}"
        + ("; the link secret restored too" if info.with_secret else "")
    )
