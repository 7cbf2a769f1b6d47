"""The ``digest`` command: a thin click layer, one pipeline function per command.

User errors (:class:`DigestError`) are caught once here and printed as a message and a hint
with exit code 1; ``-v`` adds the traceback.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from newsletter_digest import __version__
from newsletter_digest.errors import DigestError, shorten
from newsletter_digest.logs import FORMATS, LogFormat, logging_to


class DigestGroup(click.Group):
    """A click group that turns DigestError into a clean message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as e:
            verbose = bool(ctx.obj and ctx.obj.get("verbose"))
            _fail(e, verbose)


def _fail(e: DigestError, verbose: bool) -> NoReturn:
    if verbose:
        import traceback  # only here: it costs a start-up ~10 ms otherwise

        traceback.print_exc()
    click.secho(f"error: {e.message}", fg="red", err=True)
    if e.hint:
        click.echo(f"hint: {e.hint}", err=True)
    sys.exit(1)


def _warn(message: str) -> None:
    click.secho(f"warning: {message}", fg="yellow", err=True)


def _config(ctx: click.Context) -> Any:
    """The validated config (``--config``, ``$DIGEST_CONFIG`` or ./digest.yaml)."""
    from newsletter_digest.config.loading import find_config, load_config

    return load_config(find_config(ctx.obj.get("config_path")))


def _config_if_any(ctx: click.Context) -> Any:
    """The config when there is a usable one, else None (an import given its folder)."""
    try:
        return _config(ctx)
    except DigestError:
        return None


def _now() -> datetime:
    """Local time with its UTC offset: the issue's date is the sender's calendar day."""
    return datetime.now().astimezone()


LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="plain",
    show_default=True,
    help="Log lines on stderr: plain text, or one JSON object a line.",
)


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


def _rel(path: Path) -> str:
    """A path relative to the working folder when it is inside it (shorter, clickable)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $DIGEST_CONFIG, then ./digest.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """Build a rotating newsletter digest from a folder of excerpts."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["verbose"] = verbose


@cli.command()
@click.argument(
    "folder", default=".", required=False, type=click.Path(file_okay=True, path_type=Path)
)
def init(folder: Path) -> None:
    """Start a project in FOLDER (default: here): digest.yaml, content/, templates/.

    digest.yaml lists every key with its default and description, the optional ones
    commented out; content/ gets two sample excerpts. An existing project is left as it is.
    """
    from newsletter_digest.project import init as start

    started = start(folder)
    for path in started.written:
        click.echo(f"wrote {_rel(path)}")
    where = "" if folder == Path() else f"cd {folder} && "
    click.echo(
        f"Next: {where}edit digest.yaml (title, sender), then 'digest check', "
        "'digest preview' and 'digest build'"
    )


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show the next issue's picks; change nothing.")
@click.option("--no-send", is_flag=True, help="Only write the outbox, even with smtp configured.")
@click.pass_context
def build(ctx: click.Context, dry_run: bool, no_send: bool) -> None:
    """Make the next issue: pick excerpts, render, write to the outbox, record it.

    With an smtp section in the config, the new issue is then sent to every recipient.
    """
    from newsletter_digest import pipeline
    from newsletter_digest.report import issue_lines, rotation_line

    config = _config(ctx)
    now = _now()
    if dry_run:
        plan, pending = pipeline.dry_run(config, now.date())
        if pending:
            numbers = ", ".join(f"#{record.number}" for record in pending)
            click.echo(
                f"The next build records issue {numbers}, already in the outbox (an "
                "interrupted build wrote it), and makes no new issue. The one after it:"
            )
        for problem in plan.problems:
            _warn(f"{problem} (skipped)")
        for warning in plan.warnings:
            _warn(warning)
        click.echo(f"Next issue #{plan.info.number} (dry run: nothing written)")
        click.echo(f"  subject: {plan.rendered.subject}")
        for line in issue_lines(plan.selection):
            click.echo(f"  {line}")
        folder = config.settings.outbox / plan.folder_name
        click.echo(f"  would be written to {_rel(folder)}/")
        click.echo(rotation_line(plan.selection))
        if config.settings.sources:
            click.echo(
                "sources are refreshed when the issue is built, not in a dry run: "
                "'digest sources --refresh' brings in what they have new now"
            )
        return
    _refresh_sources(config)
    result = pipeline.build(config, now)
    for problem in result.problems:
        _warn(f"{problem} (skipped)")
    for warning in result.warnings:
        _warn(warning)
    if result.recovered and result.sendable:
        _warn(
            f"issue #{result.record.number} was written by an interrupted build; "
            "it is recorded now and no new issue was made"
        )
    elif result.recovered:
        numbers = ", ".join(f"#{r.number}" for r in result.recovered)
        _warn(
            f"issues {numbers} were in the outbox but not in the state (left by an interrupted "
            "build, or the state was deleted or replaced); they are recorded again from their "
            "manifests, not sent, and no new issue was made"
        )
    record = result.record
    click.echo(f"Issue #{record.number} ({record.date.isoformat()}): {record.subject}")
    for position, title in enumerate(record.titles, 1):
        click.echo(f"  {position}. {title}")
    click.echo(f"  written to {_rel(result.folder)}/")
    delivers = config.settings.smtp is not None or config.settings.per_recipient
    if delivers and not result.sendable:
        click.echo(
            f"  not sent: it may have gone out before; if not, run 'digest send {record.number}'"
        )
    elif delivers and not no_send:
        _send(config, record.number)


def _refresh_sources(config: Any) -> None:
    """Bring in what the configured sources have new; a failing one is a warning only."""
    if not config.settings.sources:
        return
    from newsletter_digest.content.refresh import refresh

    for status in refresh(config):
        if status.error:
            _warn(f"source {status.key}: {status.error} (the issue goes out without it)")
            continue
        if not status.read_now:
            continue  # its notes were shown when it was read
        if status.outcome != "0 new":  # something came in, or was updated or skipped
            click.echo(f"source {status.key}: {status.outcome}")
        for note in status.notes:
            _warn(f"source {status.key}: {note}")


def _send(config: Any, number: int | None, *, retry_failed: bool = False) -> None:
    """Send an issue with progress (a bar with rate and time left on a terminal, else a line
    per thousand), then the summary; exit 1 naming the cause if what is left needs a person
    (pending recipients, a relay's refusal, a failure other than a hard bounce)."""
    from newsletter_digest.delivery.send import send_issue
    from newsletter_digest.errors import DeliveryError

    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty():
            if done % 1000 == 0 or done == total:
                click.echo(f"  sent or settled {done:,} of {total:,}", err=True)
            return
        if bar is None:
            bar = click.progressbar(
                length=total, label="sending", file=sys.stderr, show_eta=True, show_pos=True
            )
            bar.__enter__()
        bar.update(1)

    try:
        report = send_issue(config, number, progress=progress, retry_failed=retry_failed)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if report.retried:
        click.echo(f"  {report.retried} failed recipients put back in the queue")
    rate = (
        f", {report.sent_now / report.seconds:.0f}/s" if report.seconds and report.sent_now else ""
    )
    left = f", {report.left} left before their turn" if report.left else ""
    click.echo(
        f"Issue #{report.issue} to {report.total} recipients: {report.sent} sent"
        f" ({report.sent_now} now), {report.failed} failed, {report.pending} pending{left}"
        f" in {report.seconds:.1f} s{rate}"
    )
    for recipient, reply in report.failed_examples:
        click.echo(f"  failed   {recipient}: {reply}")
    for recipient, reply in report.pending_examples:
        click.echo(f"  pending  {recipient}: {reply}")
    hidden = report.failed + report.pending - len(report.failed_examples + report.pending_examples)
    if hidden > 0:
        click.echo(f"  ... and {hidden} more: see 'digest history {report.issue}'")
    if report.bounced:
        click.echo(
            f"  {report.bounced} bounced: no such address; marked bounced, sent nothing more"
        )
    if report.stopped:
        click.echo(f"  {report.stopped}")
    if report.refusal is not None:
        raise DeliveryError(
            f"the relay refused to take issue #{report.issue} for anyone: {report.refusal.reply}",
            f"{report.refusal.hint}; the {report.pending} recipients not reached stay pending "
            f"for 'digest send {report.issue}'",
        )
    if report.needs_person:  # a hard bounce or a reader who left is handled: exit 0
        missing = report.total - report.sent - report.left
        raise DeliveryError(
            f"issue #{report.issue} did not reach {missing} of {report.total} recipients",
            f"run 'digest send {report.issue}' to retry the {report.pending} pending; "
            "permanent failures (5xx) are retried only with --retry-failed"
            if report.pending
            else "fix or remove those addresses; 'digest send --retry-failed' tries them again",
        )


@cli.command()
@click.argument("issue", type=int, required=False)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also try again the recipients whose delivery failed for good (after a config fix).",
)
@click.option(
    "--test",
    "test_addresses",
    multiple=True,
    metavar="ADDRESS",
    help="Send the next issue (or --issue N) to this address only, subject '[test] ...'; "
    "records nothing. Repeat for several addresses.",
)
@click.option(
    "--issue",
    "test_issue",
    type=int,
    metavar="N",
    help="With --test: send recorded issue N instead of the next one.",
)
@click.pass_context
def send(
    ctx: click.Context,
    issue: int | None,
    retry_failed: bool,
    test_addresses: tuple[str, ...],
    test_issue: int | None,
) -> None:
    """Send, or resume sending, an issue already built (default: the latest).

    Recipients who got it are never sent it again; only pending ones are tried. With
    --test ADDRESS: try the next issue on yourself first; nothing is recorded.
    """
    if test_addresses:
        if issue is not None or retry_failed:
            raise click.UsageError("--test takes --issue N (not ISSUE or --retry-failed)")
        _send_test(_config(ctx), test_addresses, test_issue)
        return
    if test_issue is not None:
        raise click.UsageError("--issue only works with --test; give the issue as ISSUE")
    _send(_config(ctx), issue, retry_failed=retry_failed)


def _send_test(config: Any, addresses: tuple[str, ...], number: int | None) -> None:
    """Send a test and say where it went; exit 1 naming anyone it did not reach."""
    from newsletter_digest.errors import DeliveryError
    from newsletter_digest.trial import send_test

    result = send_test(config, addresses, _now(), number)
    which = f"issue #{result.number}" if result.recorded else f"the next issue (#{result.number})"
    click.echo(f"Test of {which} via {result.where}: {result.subject}")
    for address, outcome in result.outcomes:
        click.echo(
            f"  {'sent' if outcome.verdict == 'sent' else 'failed':<7}{address}: {outcome.reply}"
        )
    click.echo("  nothing recorded: no issue, slot, reader or delivery")
    if not result.sent:
        raise DeliveryError(
            "the test did not reach every address",
            "see the server's replies above; check the smtp section (docs/sending.md)",
        )


@cli.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate config, content and templates; list every problem; exit 1 if any."""
    from newsletter_digest.checks import run_checks

    config = _config(ctx)
    report = run_checks(config)
    for line in report.lines:
        click.echo(line)
    for warning in report.warnings:
        _warn(warning)
    if report.problems:
        click.secho(f"{len(report.problems)} problem(s):", fg="red", err=True)
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    click.secho("everything is ready", fg="green")


@cli.command()
@click.argument("issue", type=int, required=False)
@click.pass_context
def history(ctx: click.Context, issue: int | None) -> None:
    """Past issues (or one ISSUE in full) and the rotation's position in its cycle."""
    from newsletter_digest.report import history_lines

    config = _config(ctx)
    for line in history_lines(config, issue):
        click.echo(line)


@cli.command()
@click.pass_context
def archive(ctx: click.Context) -> None:
    """Rebuild the web archive: index.html, feed.xml and each issue's web version.

    Written to the public folder (archive.folder, default public/), the one to publish;
    made from the state and the outbox (after a template change, say), whose files are never
    touched. Every build does this too.
    """
    from newsletter_digest.archive.pages import rebuild_archive, retired_warning

    config = _config(ctx)
    result = rebuild_archive(config)
    for reason in result.left_out:
        _warn(f"{reason}; left out of the archive")
    moved = retired_warning(config, result)
    if moved:
        _warn(moved)
    plural = "" if result.issues == 1 else "s"
    click.echo(f"Archive of {result.issues} issue{plural}: {_rel(result.page)}")
    if result.feed is not None:
        click.echo(f"  feed: {_rel(result.feed)}")
    click.echo(f"  {len(result.changed)} files updated")


@cli.command("import")
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
    from newsletter_digest.content.refresh import import_once

    limits = _import_limits(ctx, target)
    config = _config(ctx) if target is None else _config_if_any(ctx)
    content_dir = target if target is not None else config.settings.content
    failed: list[DigestError] = []
    added = _now().date()
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
        if report.not_modified:
            click.echo(f"{source}: not modified since the last fetch; nothing to import")
            continue
        for path in report.written:
            click.echo(f"added {_rel(path)}")
        for path in report.updated:
            click.echo(f"updated {_rel(path)} (the highlight was edited since)")
        for path in report.adopted:
            click.echo(f"adopted {_rel(path)} (imported from this file before)")
        for note in report.notes:
            _warn(f"{source}: {note}")
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
    if failed:
        sys.exit(1)


def _import_limits(ctx: click.Context, target: Path | None) -> Any:
    """The ``imports`` limits of the config; the defaults for ``--to`` with no config."""
    from newsletter_digest.config.loading import find_config
    from newsletter_digest.config.schema import ImportSettings

    if target is not None and not find_config(ctx.obj.get("config_path")).exists():
        return ImportSettings()
    return _config(ctx).settings.imports


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


@cli.command()
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
    config = _config(ctx)
    runner.require_schedule(config)
    now = _when(ctx, config, now_text)
    if now is not None:  # never an issue for a time that is not now: only a look
        for line in runner.look(config, now, send=not no_send):
            click.echo(line)
        return
    verbose = bool(ctx.obj.get("verbose"))

    def before_issue() -> None:  # what came back, and what the sources have new
        log = logging.getLogger("newsletter_digest.run")
        if config.settings.inbox is not None:
            from newsletter_digest.inbox.process import process

            actions = process(config, config.settings.inbox)
            decided = sum(a.decided for a in actions)
            waiting = sum(a.needs_you for a in actions)
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
        if config.settings.sources:
            from newsletter_digest.content.refresh import refresh

            for status in refresh(config):
                event = "source.failed" if status.error else "source.refreshed"
                log.log(
                    logging.WARNING if status.error else logging.INFO,
                    "source %s: %s %s",
                    status.key,
                    status.outcome,
                    status.error,
                    extra={"event": event, "source": status.key, "outcome": status.outcome},
                )
                for note in status.notes if status.read_now else ():
                    log.warning("source %s: %s", status.key, note)

    with logging_to(log_format):
        code = runner.run(
            config,
            once=once,
            send=not no_send,
            verbose=verbose,
            before_issue=before_issue
            if config.settings.inbox is not None or config.settings.sources
            else None,
        )
    ctx.exit(code)


@cli.command("next")
@click.option("--count", default=3, show_default=True, type=click.IntRange(1, 1000))
@click.option("--now", "now_text", metavar="ISO", help="As if it were this time.")
@click.pass_context
def next_(ctx: click.Context, count: int, now_text: str | None) -> None:
    """The next slots, in local time and UTC, and whether one is due now."""
    from newsletter_digest.schedule.runner import next_lines, utc_now

    config = _config(ctx)
    now = _when(ctx, config, now_text) or utc_now()
    for line in next_lines(config, now, count):
        click.echo(line)


@cli.command()
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; another one shows the preview to your network.",
)
@click.option("--no-open", is_flag=True, help="Do not open a browser.")
@click.pass_context
def preview(ctx: click.Context, port: int, host: str, no_open: bool) -> None:
    """Show the next issue in a browser, live: desktop, phone, plain text and checks.

    The page follows every save to the config, content/ and templates/. Nothing is written:
    the rotation does not advance. Past issues: /issues/N; the ones after next: /next?skip=K.
    """
    from newsletter_digest.web.preview import serve

    serve(_config(ctx), host=host, port=port, open_browser=not no_open, echo=click.echo, warn=_warn)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@LOG_FORMAT
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, log_format: LogFormat) -> None:
    """Serve the public side: archive, feed, one-click unsubscribe, subscribe form.

    Meant behind a reverse proxy that terminates TLS at base_url; see docs/readers.md.
    """
    from newsletter_digest.web.serve import serve as run_server

    config = _config(ctx)
    if log_format == "plain":  # in JSON every line is an event; uvicorn's says where it runs
        click.echo(f"serving {config.settings.title} on http://{host}:{port}/ (Ctrl-C stops)")
    run_server(config, host, port, log_format=log_format, verbose=bool(ctx.obj.get("verbose")))


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.pass_context
def inbox(ctx: click.Context, path: Path | None, dry_run: bool) -> None:
    """Read returned mail: bounces, complaints, requests to unsubscribe (Maildir or mbox).

    PATH defaults to 'inbox' in digest.yaml. Processed messages move to the Maildir's
    .processed folder; anything else is left where it is.
    """
    from newsletter_digest.inbox.mailboxes import InboxError
    from newsletter_digest.inbox.process import process

    config = _config(ctx)
    mailbox = path or config.settings.inbox
    if mailbox is None:
        raise InboxError("no mailbox to read", "pass PATH, or set 'inbox' in digest.yaml")
    actions = process(config, mailbox, dry_run=dry_run)
    prefix = "would be: " if dry_run else ""
    for action in actions:
        who = f" {action.reader}" if action.reader else ""
        click.echo(f"{action.kind:<11}{who}: {prefix}{action.outcome}")
    acted = sum(a.decided for a in actions)
    waiting = sum(a.needs_you for a in actions)
    click.echo(f"{len(actions)} messages: {acted} processed, {waiting} need you", err=True)


@cli.command()
@click.option("--refresh", is_flag=True, help="Refresh them now (as build and run do).")
@click.pass_context
def sources(ctx: click.Context, refresh: bool) -> None:
    """The sources that fill the content folder: last refresh, excerpts added, last error."""
    from newsletter_digest.content.refresh import refresh as refresh_now
    from newsletter_digest.content.refresh import statuses
    from newsletter_digest.state.store import open_state

    config = _config(ctx)
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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for monitoring.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """One screen for the operator: next slot, last issue, readers, sources, inbox, and
    what needs you. Changes nothing."""
    from newsletter_digest.status import gather, status_json, status_lines

    now = _now()
    found = gather(_config(ctx), now)
    if as_json:
        click.echo(status_json(found))
        return
    for line in status_lines(found, now):
        click.echo(line)


from newsletter_digest.cli_readers import readers  # noqa: E402 - a command group of its own
from newsletter_digest.cli_state import state  # noqa: E402 - a command group of its own

cli.add_command(readers)
cli.add_command(state)


def main() -> None:
    """Entry point of the ``digest`` console script."""
    cli(prog_name="digest")
