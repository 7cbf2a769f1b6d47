"""The ``digest`` command: a thin click layer, one use case per command (the
larger ones in modules of their own: cli_send, cli_content, cli_run, cli_readers, cli_state).

User errors (:class:`DigestError`) are caught once here and printed as a message and a hint
with exit code 1; ``-v`` adds the traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from newsletter_digest import __version__
from newsletter_digest.cli_common import LOG_FORMAT, config_of, rel, warn
from newsletter_digest.cli_send import SendProgress, report_send
from newsletter_digest.clock import local_now
from newsletter_digest.errors import DigestError
from newsletter_digest.logs import LogFormat

if TYPE_CHECKING:  # loaded lazily: `digest --help` does not pay for the use cases
    from newsletter_digest.app.issues import DryRun, IssueMade
    from newsletter_digest.app.sources import SourcesRefreshed
    from newsletter_digest.config.loading import Config

Command = TypeVar("Command", bound=Callable[..., Any])


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
    from newsletter_digest.app.project import init as start

    started = start(folder)
    for path in started.written:
        click.echo(f"wrote {rel(path)}")
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
    from newsletter_digest.app import issues

    config = config_of(ctx)
    now = local_now()
    if dry_run:
        _show_dry_run(config, issues.dry_run(config, now.date()))
        return
    with SendProgress() as progress:
        published = issues.publish_next_issue(
            config, now, send=not no_send, events=_BuildShown(progress)
        )
    if published.report is not None:
        report_send(published.report)


def _show_dry_run(config: Config, found: DryRun) -> None:
    """What the next build would make, and what it would record first."""
    from newsletter_digest.report import issue_lines, rotation_line

    plan = found.plan
    if found.pending:
        numbers = ", ".join(f"#{record.number}" for record in found.pending)
        click.echo(
            f"The next build records issue {numbers}, already in the outbox (an "
            "interrupted build wrote it), and makes no new issue. The one after it:"
        )
    for problem in plan.problems:
        warn(f"{problem} (skipped)")
    for warning in plan.warnings:
        warn(warning)
    click.echo(f"Next issue #{plan.info.number} (dry run: nothing written)")
    click.echo(f"  subject: {plan.rendered.subject}")
    for line in issue_lines(plan.selection):
        click.echo(f"  {line}")
    folder = config.settings.outbox / plan.folder_name
    click.echo(f"  would be written to {rel(folder)}/")
    click.echo(rotation_line(plan.selection))
    if config.settings.sources:
        click.echo(
            "sources are refreshed when the issue is built, not in a dry run: "
            "'digest sources --refresh' brings in what they have new now"
        )


class _BuildShown:
    """``digest build`` on the terminal: the sources' news, the issue made, the send's
    progress (the issue's events, see app/issues.py)."""

    def __init__(self, progress: SendProgress) -> None:
        self._progress = progress

    def progress(self, done: int, total: int) -> None:
        """The send's progress bar (or a line per thousand)."""
        self._progress(done, total)

    def refreshed(self, sources: SourcesRefreshed) -> None:
        """A failing source is a warning only; one read now says what it brought in."""
        for source in sources.sources:
            if source.error:
                warn(f"source {source.key}: {source.error} (the issue goes out without it)")
                continue
            if not source.read:
                continue  # its notes were shown when it was read
            if source.changed:  # something came in, or was updated or skipped
                click.echo(f"source {source.key}: {source.outcome}")
            for note in source.notes:
                warn(f"source {source.key}: {note}")

    def made(self, made: IssueMade) -> None:
        """The issue, its picks and where it is; whether it goes out."""
        result = made.build
        for problem in result.problems:
            warn(f"{problem} (skipped)")
        for warning in result.warnings:
            warn(warning)
        if result.recovered and result.sendable:
            warn(
                f"issue #{result.record.number} was written by an interrupted build; "
                "it is recorded now and no new issue was made"
            )
        elif result.recovered:
            numbers = ", ".join(f"#{r.number}" for r in result.recovered)
            warn(
                f"issues {numbers} were in the outbox but not in the state (left by an "
                "interrupted build, or the state was deleted or replaced); they are recorded "
                "again from their manifests, not sent, and no new issue was made"
            )
        record = result.record
        click.echo(f"Issue #{record.number} ({record.date.isoformat()}): {record.subject}")
        for position, title in enumerate(record.titles, 1):
            click.echo(f"  {position}. {title}")
        click.echo(f"  written to {rel(result.folder)}/")
        if made.delivers and not result.sendable:
            click.echo(
                f"  not sent: it may have gone out before; if not, run "
                f"'digest send {record.number}'"
            )


@cli.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate config, content and templates; list every problem; exit 1 if any."""
    from newsletter_digest.app.checks import run_checks

    config = config_of(ctx)
    report = run_checks(config)
    for line in report.lines:
        click.echo(line)
    for warning in report.warnings:
        warn(warning)
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
    from newsletter_digest.app.history import history as past_issues
    from newsletter_digest.cli_report import history_lines

    for line in history_lines(past_issues(config_of(ctx), issue)):
        click.echo(line)


@cli.command()
@click.pass_context
def archive(ctx: click.Context) -> None:
    """Rebuild the web archive: index.html, feed.xml and each issue's web version.

    Written to the public folder (archive.folder, default public/), the one to publish;
    made from the state and the outbox (after a template change, say), whose files are never
    touched. Every build does this too.
    """
    from newsletter_digest.app.archive import rebuild_archive

    result = rebuild_archive(config_of(ctx))
    for reason in result.left_out:
        warn(f"{reason}; left out of the archive")
    if result.moved:
        warn(result.moved)
    plural = "" if result.issues == 1 else "s"
    click.echo(f"Archive of {result.issues} issue{plural}: {rel(result.page)}")
    if result.feed is not None:
        click.echo(f"  feed: {rel(result.feed)}")
    click.echo(f"  {len(result.changed)} files updated")


class ListenAddress(click.ParamType[str, Any]):
    """An address to listen on: an IP address (IPv6 with or without brackets) or a host
    name; not a URL, and no port (that is --port)."""

    name = "ADDRESS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        import ipaddress  # only here: most commands never listen
        import re

        text = str(value).strip()
        try:
            return str(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
        except ValueError:
            pass
        label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        if re.fullmatch(rf"{label}(?:\.{label})*", text):
            return text
        self.fail(f"{value!r} is not an IP address or a host name (give the port with --port)")


def listen_options(port: int) -> Callable[[Command], Command]:
    """The same --host and --port on `preview` and `serve`; only the default port differs."""

    def add(command: Command) -> Command:
        command = click.option(
            "--port",
            default=port,
            show_default=True,
            type=click.IntRange(0, 65535),
            help="Port to listen on (0: any free port).",
        )(command)
        return click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            type=ListenAddress(),
            help="Address to listen on; one other than loopback opens it to your network.",
        )(command)

    return add


@cli.command()
@listen_options(port=8000)
@click.option("--no-open", is_flag=True, help="Do not open a browser.")
@click.pass_context
def preview(ctx: click.Context, host: str, port: int, no_open: bool) -> None:
    """Show the next issue in a browser, live: desktop, phone, plain text and checks.

    The page follows every save to the config, content/ and templates/. Nothing is written:
    the rotation does not advance. Past issues: /issues/N; the ones after next: /next?skip=K.
    """
    from newsletter_digest.web.preview import serve

    serve(
        config_of(ctx), host=host, port=port, open_browser=not no_open, echo=click.echo, warn=warn
    )


@cli.command()
@listen_options(port=8080)
@LOG_FORMAT
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, log_format: LogFormat) -> None:
    """Serve the public side: archive, feed, one-click unsubscribe, subscribe form.

    Meant behind a reverse proxy that terminates TLS at base_url; see docs/readers.md.
    """
    from newsletter_digest.web.serve import serve as run_server

    config = config_of(ctx)
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
    from newsletter_digest.app.inbox import read_returned_mail

    read = read_returned_mail(config_of(ctx), path, dry_run=dry_run)
    prefix = "would be: " if read.dry_run else ""
    for action in read.actions:
        who = f" {action.reader}" if action.reader else ""
        click.echo(f"{action.kind:<11}{who}: {prefix}{action.outcome}")
    click.echo(
        f"{len(read.actions)} messages: {read.processed} processed, {read.needs_you} need you",
        err=True,
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for monitoring.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """One screen for the operator: next slot, last issue, readers, sources, inbox, and
    what needs you. Changes nothing."""
    from newsletter_digest.app.status import gather
    from newsletter_digest.cli_report import status_json, status_lines

    now = local_now()
    found = gather(config_of(ctx), now)
    if as_json:
        click.echo(status_json(found))
        return
    for line in status_lines(found, now):
        click.echo(line)


from newsletter_digest.cli_content import import_, sources  # noqa: E402 - commands of their own
from newsletter_digest.cli_readers import readers  # noqa: E402 - a command group of its own
from newsletter_digest.cli_run import next_, run  # noqa: E402 - commands of their own
from newsletter_digest.cli_send import send  # noqa: E402 - a command of its own
from newsletter_digest.cli_state import state  # noqa: E402 - a command group of its own

for command in (import_, next_, readers, run, send, sources, state):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``digest`` console script."""
    cli(prog_name="digest")
