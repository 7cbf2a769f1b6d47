"""`digest send`: an issue to its readers with progress and a summary, or a test of the
next issue to a few addresses; `digest build` ends with the same send."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from newsletter_digest.cli_common import config_of
from newsletter_digest.clock import local_now

if TYPE_CHECKING:  # loaded lazily: `digest --help` does not pay for the use cases
    from newsletter_digest.app.sending import SendReport


@click.command()
@click.argument("issue", type=int, required=False)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also try again the recipients whose delivery failed for good (after a config fix).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    metavar="N",
    help="Send over N connections at once (default: smtp.connections).",
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
    workers: int | None,
    test_addresses: tuple[str, ...],
    test_issue: int | None,
) -> None:
    """Send, or resume sending, an issue already built (default: the latest).

    Recipients who got it are never sent it again; only pending ones are tried. With
    --test ADDRESS: try the next issue on yourself first; nothing is recorded.
    """
    if test_addresses:
        if issue is not None or retry_failed or workers is not None:
            raise click.UsageError(
                "--test takes --issue N (not ISSUE, --retry-failed or --workers)"
            )
        _send_test(config_of(ctx), test_addresses, test_issue)
        return
    if test_issue is not None:
        raise click.UsageError("--issue only works with --test; give the issue as ISSUE")
    send_and_report(config_of(ctx), issue, retry_failed=retry_failed, workers=workers)


class SendProgress:
    """A send's progress on stderr: a bar with rate and time left on a terminal, else a
    line per thousand recipients."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            if done % 1000 == 0 or done == total:
                click.echo(f"  sent or settled {done:,} of {total:,}", err=True)
            return
        if self.bar is None:
            self.bar = click.progressbar(
                length=total, label="sending", file=sys.stderr, show_eta=True, show_pos=True
            )
            self.bar.__enter__()
        self.bar.update(1)

    def __enter__(self) -> SendProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def send_and_report(
    config: Any, number: int | None, *, retry_failed: bool = False, workers: int | None = None
) -> None:
    """Send an issue with progress, then the summary (see :func:`report_send`)."""
    from newsletter_digest.app.sending import send_issue

    with SendProgress() as progress:
        report = send_issue(
            config, number, progress=progress, retry_failed=retry_failed, workers=workers
        )
    report_send(report)


def report_send(report: SendReport) -> None:
    """The summary of a send; exit 1 naming the cause if what is left needs a person
    (pending recipients, a relay's refusal, a failure other than a hard bounce)."""
    from newsletter_digest.errors import DeliveryError

    _summary(report)
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


def _summary(report: SendReport) -> None:
    """What a send did: the counts and rate, a few failed and pending recipients, bounces."""
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


def _send_test(config: Any, addresses: tuple[str, ...], number: int | None) -> None:
    """Send a test and say where it went; exit 1 naming anyone it did not reach."""
    from newsletter_digest.app.trial import send_test
    from newsletter_digest.errors import DeliveryError

    result = send_test(config, addresses, local_now(), number)
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
