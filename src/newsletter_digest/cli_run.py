"""`digest run` and `digest next`: the schedule, run in the foreground or once a slot, and
the slots to come."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import click

from newsletter_digest.cli_common import LOG_FORMAT, config_of
from newsletter_digest.errors import shorten
from newsletter_digest.logs import LogFormat, logging_to


def _when(ctx: click.Context, config: Any, text: str | None) -> datetime | None:
    """A ``--now`` value; naive times are wall-clock time in the schedule's time zone."""
    from newsletter_digest.schedule.runner import parse_now

    if text is None:
        return None
    try:
        return parse_now(text, config)
    except ValueError as e:
        raise click.BadParameter(
            f"expected an ISO date and time like 2026-11-30T09:05, between the years 1970 and "
            f"2999 (got {shorten(text)})",
            ctx=ctx,
            param_hint="'--now'",
        ) from e


@click.command()
@click.option("--once", is_flag=True, help="Make the issue of the slot due now, if any, and exit.")
@click.option(
    "--now",
    "now_text",
    metavar="ISO",
    help="With --once: a dry run, showing what the slot due at that time would get; "
    "nothing is made, sent or recorded.",
)
@click.option("--no-send", is_flag=True, help="Only write the outbox, even with smtp configured.")
@LOG_FORMAT
@click.pass_context
def run(
    ctx: click.Context, once: bool, now_text: str | None, no_send: bool, log_format: LogFormat
) -> None:
    """Make (and send) each issue when its slot in the schedule comes.

    Without --once: a foreground scheduler until SIGTERM or Ctrl-C. With --once (for cron and
    systemd timers): act on the slot due now, if any, and exit. A slot gets at most one issue.
    With --once --now ISO: only look at what that time would do (a dry run).
    """
    from newsletter_digest.schedule import runner

    if now_text is not None and not once:
        raise click.UsageError("--now only works with --once")
    config = config_of(ctx)
    runner.require_schedule(config)
    now = _when(ctx, config, now_text)
    if now is not None:  # never an issue for a time that is not now: only a look
        for line in runner.look_lines(config, now, send=not no_send):
            click.echo(line)
        return
    verbose = bool(ctx.obj.get("verbose"))

    def before_issue() -> None:  # what came back (the sources are the issue's to refresh)
        _read_inbox(config, logging.getLogger("newsletter_digest.run"), verbose)

    with logging_to(log_format):
        code = runner.run(
            config,
            once=once,
            send=not no_send,
            verbose=verbose,
            before_issue=before_issue if config.settings.inbox is not None else None,
        )
    ctx.exit(code)


def _read_inbox(config: Any, log: logging.Logger, verbose: bool) -> None:
    """Before a scheduled issue: act on the returned mail, logging what it did."""
    from newsletter_digest.app.inbox import read_returned_mail

    result = read_returned_mail(config, None, dry_run=False)
    actions, decided, waiting = result.actions, result.processed, result.needs_you
    log.info(
        "inbox: %d messages, %d processed, %d need you",
        len(actions),
        decided,
        waiting,
        extra={"event": "inbox.read", "messages": len(actions), "processed": decided,
               "needs_you": waiting},
    )  # fmt: skip
    for action in actions:
        _log_reader_change(log, action.kind, action.outcome, action.reader, verbose)


@click.command("next")
@click.option("--count", default=3, show_default=True, type=click.IntRange(1, 1000))
@click.option("--now", "now_text", metavar="ISO", help="As if it were this time.")
@click.pass_context
def next_(ctx: click.Context, count: int, now_text: str | None) -> None:
    """The next slots, in local time and UTC, and whether one is due now."""
    from newsletter_digest.schedule.runner import next_lines, utc_now

    config = config_of(ctx)
    now = _when(ctx, config, now_text) or utc_now()
    for line in next_lines(config, now, count):
        click.echo(line)


def _log_reader_change(
    log: logging.Logger, kind: str, outcome: str, address: str, verbose: bool
) -> None:
    """A reader the inbox marked bounced, complained or unsubscribed: one event (the
    address only with -v, as logs travel further than the state)."""
    if kind not in ("bounce", "complaint", "unsubscribe") or not address:
        return
    event = {"bounce": "reader.bounced", "complaint": "reader.complained"}.get(
        kind, "reader.unsubscribed"
    )
    fields = {"event": event, "via": "inbox"} | ({"address": address} if verbose else {})
    log.info("%s: %s", event, outcome, extra=fields)
