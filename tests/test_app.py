"""The application layer: the use cases own the flow (refresh, make, send, the scheduler's
tick) and every state write; the adapters (cli, the runner) only call them and show what
they return; the send loop records each outcome through the log the send use case gives it."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grimp
import pytest
from click.testing import Result

from newsletter_digest.app.issues import IssueMade
from newsletter_digest.app.schedule import TickEvents, tick
from newsletter_digest.app.sending import SendReport, delivers
from newsletter_digest.app.sources import SourcesRefreshed, refresh_sources
from newsletter_digest.config.loading import load_config
from newsletter_digest.delivery.send import send_deliveries
from newsletter_digest.delivery.transport import Outcome
from newsletter_digest.models import Delivery, RenderedIssue
from smtp_helpers import Behaviour, Server, configure, statuses
from test_importers import SOURCES
from test_run import MINUTE, issues, schedule, slot

Digest = Callable[..., Result]


def readers(count: int) -> list[str]:
    return [f"reader{n}@example.org" for n in range(count)]


def kindle_source(project: Path) -> None:
    shutil.copy(SOURCES / "My Clippings.txt", project / "My Clippings.txt")
    config = project / "digest.yaml"
    config.write_text(
        config.read_text() + "sources:\n  - kindle: My Clippings.txt\n    tags: [book]\n"
    )


def test_whether_a_config_delivers_is_decided_in_one_place(project: Path) -> None:
    config = project / "digest.yaml"
    plain = config.read_text()
    assert not delivers(load_config(config))  # the outbox copy is the delivery
    config.write_text(plain + "per_recipient: true\n")
    assert delivers(load_config(config))  # the pickup folder
    config.write_text(plain + "smtp:\n  host: 127.0.0.1\n  security: none\n")
    assert delivers(load_config(config))


def test_refreshing_sources_says_in_numbers_what_each_one_brought(project: Path) -> None:
    kindle_source(project)
    config = load_config(project / "digest.yaml")
    [first] = refresh_sources(config).sources
    assert first.read and first.changed and not first.error
    assert first.new == len(list((project / "content").glob("*.md"))) - 6 > 0
    [again] = refresh_sources(config).sources  # the file did not change: not read again
    assert (again.read, again.changed, again.new, again.outcome) == (False, False, 0, "unchanged")


class Recorded(TickEvents):
    """The events of a tick, by name, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.sources: SourcesRefreshed | None = None

    def due(self, slot: object) -> None:
        self.names.append("due")

    def refreshed(self, sources: SourcesRefreshed) -> None:
        self.names.append("refreshed")
        self.sources = sources

    def built(self, slot: object, made: IssueMade) -> None:
        self.names.append("built")

    def sending(self, slot: object, number: int) -> None:
        self.names.append("sending")

    def sent(self, slot: object, number: int, report: SendReport) -> None:
        self.names.append("sent")


def test_a_scheduler_tick_refreshes_makes_and_sends_with_the_use_cases_of_build(
    project: Path,
) -> None:
    kindle_source(project)
    (project / "digest.yaml").write_text(
        (project / "digest.yaml").read_text() + "per_recipient: true\n"
    )
    schedule(project)
    config = load_config(project / "digest.yaml")
    assert config.settings.schedule is not None
    events = Recorded()
    result = tick(config, config.settings.schedule.to_schedule(), slot(1) + MINUTE, events=events)
    assert (result.made, result.failed, result.last) == (1, False, slot(1))
    assert events.names == ["due", "refreshed", "built", "sending", "sent"]
    assert events.sources is not None and events.sources.sources[0].new > 0
    assert issues(project) == [1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.made = 2  # type: ignore[misc]


def test_the_send_loop_records_each_outcome_through_the_log_it_is_given(
    project: Path, servers: Callable[..., Server]
) -> None:
    server = servers(Behaviour(refuse={"reader3@example.org": "550 5.1.1 no such user"}))
    configure(project, server.port, recipients=readers(12))
    config = load_config(project / "digest.yaml")
    rendered = RenderedIssue(subject="Hello", preheader="", html="<p>Hi</p>", text="Hi")
    deliveries = [
        Delivery(1, address, "pending", 0, "", f"<{n}@example.org>", "")
        for n, address in enumerate(readers(12))
    ]
    log: list[tuple[str, str, int, bool]] = []

    def record(delivery: Delivery, outcome: Outcome, tries: int) -> None:
        log.append((delivery.recipient, outcome.verdict, tries, threading.current_thread() is me))

    me = threading.current_thread()
    result = send_deliveries(
        config, rendered, deliveries, record, folder=project / "pickup", tokens={}, workers=3
    )
    assert result.sent == 11 and result.refusal is None
    assert Counter(entry[0] for entry in log) == Counter(readers(12))  # each once
    assert {(r, v) for r, v, _, _ in log if v != "sent"} == {("reader3@example.org", "permanent")}
    assert all(in_caller for *_, in_caller in log)  # the bookkeeping is the caller's thread's
    assert server.handler.connections == 3


def test_send_over_as_many_connections_as_workers_asks(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    server = servers()
    configure(project, server.port, recipients=readers(30))  # smtp.connections: 1
    assert digest("build", "--no-send").exit_code == 0
    result = digest("send", "--workers", "3")
    assert result.exit_code == 0, result.output
    assert server.handler.connections == 3
    assert Counter(server.handler.recipients()) == Counter(readers(30))
    assert set(statuses(project).values()) == {"sent"}
    refused = digest("send", "--test", "me@example.org", "--workers", "2")
    assert refused.exit_code == 2 and "--workers" in refused.output


ADAPTERS = (
    "newsletter_digest.cli",
    "newsletter_digest.cli_send",
    "newsletter_digest.cli_run",
    "newsletter_digest.schedule.runner",
)
STATE_FREE = (*ADAPTERS, "newsletter_digest.delivery.send", "newsletter_digest.delivery.loop")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("newsletter_digest")


@pytest.mark.parametrize("module", STATE_FREE)
def test_adapters_and_delivery_leave_the_state_to_the_use_cases(
    graph: grimp.ImportGraph, module: str
) -> None:
    imported = graph.find_modules_directly_imported_by(module)
    assert not {m for m in imported if m.startswith("newsletter_digest.state")}
