"""What the `digest` commands share: the config they act on, warnings, paths as shown,
and the --log-format option of the long-running ones."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter_digest.logs import FORMATS, logging_to

if TYPE_CHECKING:  # loaded lazily: `digest --help` does not pay for pydantic
    from newsletter_digest.config.loading import Config


def warn(message: str) -> None:
    """A warning on stderr: something to know, nothing stopped."""
    click.secho(f"warning: {message}", fg="yellow", err=True)


def config_of(ctx: click.Context) -> Config:
    """The validated config (``--config``, ``$DIGEST_CONFIG`` or ./digest.yaml); its old
    spellings are warned about here, once per command."""
    from newsletter_digest.config.loading import find_config, load_config

    config = load_config(find_config(ctx.obj.get("config_path")))
    shown: set[str] = ctx.obj.setdefault("warned", set())
    for warning in config.warnings:
        if warning not in shown:
            shown.add(warning)
            _deprecated(ctx, warning)
    return config


def _deprecated(ctx: click.Context, warning: str) -> None:
    """An old spelling's warning: a ``warning:`` line, or a log event in the command's
    --log-format (a JSON log stays all JSON)."""
    kind = ctx.params.get("log_format")
    if kind not in FORMATS:
        warn(warning)
        return
    with logging_to(kind):
        log = logging.getLogger("newsletter_digest.config")
        log.warning(warning, extra={"event": "config.deprecated"})


LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="plain",
    show_default=True,
    help="Log lines on stderr: plain text, or one JSON object a line.",
)


def rel(path: Path) -> str:
    """A path relative to the working folder when it is inside it (shorter, clickable)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
