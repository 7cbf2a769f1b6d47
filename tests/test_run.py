"""digest run / run --once / next: one issue per slot, across restarts, failures and processes."""

from __future__ import annotations

import io
import logging
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from newsletter_digest.app.issues import build
from newsletter_digest.cli import cli
from newsletter_digest.config.loading import Config, load_config
from newsletter_digest.errors import SlotTakenError, StateError
from newsletter_digest.models import Slot
from newsletter_digest.schedule import runner
from newsletter_digest.schedule.runner import Runner
from newsletter_digest.state import store as state_module
from newsletter_digest.state.locks import process_lock
from newsletter_digest.state.store import open_state
from smtp_helpers import Behaviour, Server

Digest = Callable[..., Result]
WEEKLY = """\
schedule:
  every: monday
  at: "09:00"
  timezone: Europe/Berlin
  grace: 2d
"""
# Mondays at 09:00 in Berlin (CET, UTC+1), as UTC instants.
S0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)
MINUTE = timedelta(minutes=1)


def slot(n: int) -> datetime:
    return S0 + n * WEEK


def berlin(moment: datetime) -> str:
    """A --now value as a user types it: naive wall-clock time in the schedule's zone."""
    return (moment + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")


def schedule(project: Path, section: str = WEEKLY) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text(encoding="utf-8") + section, encoding="utf-8")


@pytest.fixture
def weekly(project: Path) -> Path:
    schedule(project)
    return project


def issues(project: Path) -> list[int]:
    return sorted(int(p.name.removeprefix("issue-")) for p in (project / "outbox").glob("issue-*"))


def slots(project: Path) -> list[tuple[str, str, str, int | None]]:
    db = sqlite3.connect(project / ".digest" / "state.db")
    rows = db.execute(
        "SELECT slot_utc, timezone, status, issue_number FROM slots ORDER BY slot_utc"
    ).fetchall()
    db.close()
    return rows


def config_of(project: Path) -> Config:
    return load_config(project / "digest.yaml")


@dataclass
class Ran:
    """What ``digest run --once`` did: its exit code and its log."""

    exit_code: int
    output: str


RunAt = Callable[[datetime], Ran]


@pytest.fixture
def run_at(project: Path) -> RunAt:
    """``digest run --once`` on the project's real state, with the clock set to a moment.

    The clock is injected (``runner.run``'s ``clock``): ``--now`` only looks, so it cannot
    stand in for the time any more.
    """

    def run(moment: datetime) -> Ran:
        log = io.StringIO()
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger = logging.getLogger("newsletter_digest.run")
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            code = runner.run(config_of(project), once=True, clock=lambda: moment)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        return Ran(code, log.getvalue())

    return run


# run --once ------------------------------------------------------------------------------------


def test_run_once_makes_the_due_slot_once(weekly: Path, digest: Digest, run_at: RunAt) -> None:
    first = run_at(slot(1) + 5 * MINUTE)
    assert first.exit_code == 0, first.output
    assert "slot 2026-11-09 09:00 CET (08:00 UTC) due" in first.output
    assert "issue #1 made" in first.output
    assert "next slot at 2026-11-16 09:00 CET (08:00 UTC)" in first.output
    again = run_at(slot(1) + 6 * MINUTE)
    assert again.exit_code == 0, again.output
    assert "made" not in again.output
    assert issues(weekly) == [1]
    assert slots(weekly) == [("2026-11-09T08:00:00Z", "Europe/Berlin", "made", 1)]


def test_run_once_between_slots_does_nothing(weekly: Path, digest: Digest, run_at: RunAt) -> None:
    run_at(slot(1))
    result = run_at(slot(1) + 3 * 24 * 60 * MINUTE)
    assert result.exit_code == 0
    assert "due" not in result.output
    assert issues(weekly) == [1]


def test_after_five_missed_slots_one_issue_and_the_others_logged_skipped(
    weekly: Path, digest: Digest, run_at: RunAt
) -> None:
    run_at(slot(0))
    result = run_at(slot(5) + 60 * MINUTE)
    assert result.exit_code == 0, result.output
    assert result.output.count("skipped: missed while not running") == 4
    assert "slot 2026-11-16 09:00 CET (08:00 UTC) skipped" in result.output
    assert "issue #2 made" in result.output
    assert issues(weekly) == [1, 2]
    assert [row[0] for row in slots(weekly)] == ["2026-11-02T08:00:00Z", "2026-12-07T08:00:00Z"]


def test_a_slot_missed_by_more_than_grace_is_skipped_and_recorded(
    weekly: Path, digest: Digest, run_at: RunAt
) -> None:
    result = run_at(slot(1) + 3 * 24 * 60 * MINUTE)
    assert result.exit_code == 0, result.output
    assert "skipped: 3d late, more than grace 2d" in result.output
    assert not (weekly / "outbox").exists()
    assert slots(weekly) == [("2026-11-09T08:00:00Z", "Europe/Berlin", "skipped", None)]
    quiet = run_at(slot(1) + 3 * 24 * 60 * MINUTE + MINUTE)
    assert "skipped" not in quiet.output  # recorded: not skipped (nor logged) again
    assert run_at(slot(2)).exit_code == 0
    assert issues(weekly) == [1]


def test_the_clock_moving_back_makes_nothing_twice(
    weekly: Path, digest: Digest, run_at: RunAt
) -> None:
    run_at(slot(2) + MINUTE)
    for moment in (slot(2) - 60 * MINUTE, slot(2) + 30 * MINUTE, slot(0) + MINUTE):
        assert run_at(moment).exit_code == 0
    assert issues(weekly) == [1]
    run_at(slot(3))
    assert issues(weekly) == [1, 2]


def test_catch_up_skip_makes_nothing_for_a_late_slot(
    project: Path, digest: Digest, run_at: RunAt
) -> None:
    schedule(project, WEEKLY + "  catch_up: skip\n")
    late = run_at(slot(1) + 20 * MINUTE)
    assert "skipped: 20m late and catch_up is skip" in late.output
    assert run_at(slot(2) + MINUTE).exit_code == 0
    assert issues(project) == [1]


def test_run_without_a_schedule_says_how_to_add_one(digest: Digest) -> None:
    for command in (["run", "--once"], ["next"]):
        result = digest(*command)
        assert result.exit_code == 1
        assert "no schedule section" in result.output and "hint:" in result.output


def test_bad_now_and_now_without_once_are_usage_errors(weekly: Path, digest: Digest) -> None:
    assert digest("run", "--now", "2026-11-30T09:05").exit_code == 2
    bad = digest("run", "--once", "--now", "next monday")
    assert bad.exit_code == 2 and "ISO date" in bad.output
    assert not (weekly / ".digest" / "state.db").exists()


def real_slot(weeks: int) -> datetime:
    """A Monday slot ``weeks`` after the next one by the real clock (negative: before it)."""
    ahead = math.ceil((datetime.now(UTC) - S0) / WEEK)
    return slot(ahead + weeks)


@pytest.mark.parametrize("weeks", [0, 3, -2])
def test_run_once_with_now_only_looks_and_never_mails_or_records(
    project: Path, digest: Digest, run_at: RunAt, weeks: int
) -> None:
    """--now ahead of the real clock (issue 23: it mailed everyone an issue dated a week
    ahead and used up the slot) or behind it: a dry look; the relay gets nothing."""
    server = Server(Behaviour()).start()
    try:
        smtp_project(project, server.port)
        made = run_at(slot(1) + MINUTE)  # the real state: one issue, sent to 3 readers
        assert made.exit_code == 0 and "issue #1 sent to 3/3" in made.output, made.output
        db = project / ".digest" / "state.db"
        before = (slots(project), issues(project), sorted(server.handler.recipients()))
        state_before = sqlite3.connect(db).execute("SELECT * FROM deliveries").fetchall()
        when = real_slot(weeks) + 5 * MINUTE
        result = digest("run", "--once", "--now", berlin(when))
        assert result.exit_code == 0, result.output
        assert "dry run as if it were" in result.output
        assert "nothing is made, sent or recorded" in result.output
        assert "would be made and sent" in result.output
        assert (slots(project), issues(project), sorted(server.handler.recipients())) == before
        assert sqlite3.connect(db).execute("SELECT * FROM deliveries").fetchall() == state_before
    finally:
        server.stop()


def test_run_once_with_now_on_a_new_project_creates_nothing(weekly: Path, digest: Digest) -> None:
    result = digest("run", "--once", "--now", berlin(real_slot(1) + MINUTE))
    assert result.exit_code == 0, result.output
    assert "issue #1 would be made" in result.output and "made:" not in result.output
    assert not (weekly / ".digest").exists()
    assert not (weekly / "outbox").exists()


def test_next_shows_local_and_utc_and_what_is_due(
    weekly: Path, digest: Digest, run_at: RunAt
) -> None:
    due = digest("next", "--now", berlin(slot(1) + 5 * MINUTE))
    assert due.exit_code == 0, due.output
    assert "every monday at 09:00 Europe/Berlin" in due.output
    assert "due now: 2026-11-09 09:00 CET (08:00 UTC), 5m ago" in due.output
    assert "2026-11-16 09:00 CET (08:00 UTC)  in 6d23h55m" in due.output
    run_at(slot(1) + 5 * MINUTE)
    after = digest("next", "--now", berlin(slot(1) + 6 * MINUTE), "--count", "1")
    assert "last slot: 2026-11-09 09:00 CET (08:00 UTC): issue #1" in after.output
    assert "due now: nothing" in after.output
    assert after.output.count(" in ") == 1


# The DB guard: a slot is recorded with its issue, in one transaction -----------------------------


def test_a_slot_gets_one_issue_even_when_build_is_asked_twice(weekly: Path) -> None:
    config = config_of(weekly)
    taken = Slot(slot(1), "Europe/Berlin")
    build(config, slot(1), slot=taken)
    with pytest.raises(SlotTakenError, match="it has issue #1"):
        build(config, slot(1) + MINUTE, slot=taken)
    with pytest.raises(SlotTakenError, match="older than"):
        build(config, slot(1), slot=Slot(slot(0), "Europe/Berlin"))
    assert issues(weekly) == [1]
    build(config, slot(1))  # a manual build needs no slot
    assert issues(weekly) == [1, 2]
    assert [row[3] for row in slots(weekly)] == [1]


def test_an_interrupted_build_of_a_slot_is_recorded_for_that_slot(
    weekly: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch, run_at: RunAt
) -> None:
    def crash(self: object, record: object) -> None:
        raise KeyboardInterrupt  # the process dies after the files are in the outbox

    with monkeypatch.context() as patch:
        patch.setattr(state_module.State, "record_issue", crash)
        with pytest.raises(KeyboardInterrupt):
            Runner(config_of(weekly)).step(slot(1))
    assert slots(weekly) == []
    result = run_at(slot(1) + MINUTE)
    assert result.exit_code == 0, result.output
    assert "recovered from an interrupted build" in result.output
    assert issues(weekly) == [1]
    assert slots(weekly) == [("2026-11-09T08:00:00Z", "Europe/Berlin", "made", 1)]


# The loop's body with an injected clock -----------------------------------------------------------


def test_ticking_through_three_weeks_makes_one_issue_per_slot(weekly: Path) -> None:
    runner = Runner(config_of(weekly))
    now = slot(0) + MINUTE
    while now < slot(3) + 60 * MINUTE:
        runner.tick(now)
        now += 10 * MINUTE
    assert issues(weekly) == [1, 2, 3, 4]  # slots 0 to 3
    assert [row[3] for row in slots(weekly)] == [1, 2, 3, 4]


def test_ticking_with_the_clock_set_back_makes_nothing_twice(weekly: Path) -> None:
    runner = Runner(config_of(weekly))
    for now in (slot(1) + MINUTE, slot(1) - 60 * MINUTE, slot(1) + 2 * MINUTE, slot(0)):
        runner.tick(now)
    assert issues(weekly) == [1]


def test_a_failing_build_is_logged_with_its_slot_and_retried_until_it_works(
    weekly: Path, caplog: pytest.LogCaptureFixture
) -> None:
    templates = weekly / "templates"
    templates.mkdir()
    broken = templates / "digest.txt.j2"
    broken.write_text("{% for e in excerpts %}{{ e.title }\n", encoding="utf-8")
    runner = Runner(config_of(weekly), retry=timedelta(minutes=5))
    caplog.set_level(logging.INFO, logger="newsletter_digest.run")
    runner.tick(slot(1) + MINUTE)
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "slot 2026-11-09 09:00 CET (08:00 UTC): making the issue failed" in failures[0].message
    assert "digest.txt.j2" in failures[0].message
    assert runner.retry_at == slot(1) + 6 * MINUTE
    runner.tick(slot(1) + 2 * MINUTE)  # before the retry time: not even tried
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    broken.unlink()
    runner.tick(slot(1) + 6 * MINUTE)
    assert issues(weekly) == [1]
    assert runner.retry_at is None


def test_a_slot_failing_past_grace_is_skipped(weekly: Path) -> None:
    (weekly / "templates").mkdir()
    (weekly / "templates" / "digest.txt.j2").write_text("{{ nope(", encoding="utf-8")
    runner = Runner(config_of(weekly), retry=timedelta(hours=12))
    now = slot(1) + MINUTE
    for _ in range(6):
        runner.tick(now)
        now += timedelta(hours=12)
    assert not (weekly / "outbox").exists()
    assert slots(weekly) == [("2026-11-09T08:00:00Z", "Europe/Berlin", "skipped", None)]


# Sending, and resuming a partly sent issue -------------------------------------------------------

READERS = [f"reader{n}@example.org" for n in range(1, 4)]


def smtp_project(project: Path, port: int) -> None:
    lines = [
        'title: "Test Weekly"',
        'sender: "Test Weekly <news@example.org>"',
        "per_issue: 2",
        "recipients:",
        *[f"  - {r}" for r in READERS],
        "smtp:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        "  security: none",
        "  retries: 0",
        "  timeout: 5s",
    ]
    (project / "digest.yaml").write_text("\n".join(lines) + "\n" + WEEKLY, encoding="utf-8")


def test_run_once_sends_the_issue_and_resumes_a_partly_sent_one(
    project: Path, digest: Digest, run_at: RunAt
) -> None:
    server = Server(Behaviour())
    smtp_project(project, server.port)  # nothing listens there yet
    first = run_at(slot(1) + MINUTE)
    assert first.exit_code == 1, first.output
    assert "issue #1 made" in first.output
    assert "WARNING slot 2026-11-09 09:00 CET (08:00 UTC): issue #1 sent to 0/3" in first.output
    server.start()
    try:
        resumed = run_at(slot(1) + 2 * MINUTE)
        assert resumed.exit_code == 0, resumed.output
        assert "issue #1 sent to 3/3" in resumed.output
        assert sorted(server.handler.recipients()) == READERS
        assert issues(project) == [1]
        calm = run_at(slot(1) + 3 * MINUTE)
        assert "sent" not in calm.output
        nxt = run_at(slot(2) + MINUTE)
        assert "issue #2 sent to 3/3" in nxt.output
        assert len(server.handler.recipients()) == 6
    finally:
        server.stop()


# Locks and real processes ---------------------------------------------------------------------


def test_a_second_scheduler_says_so_and_exits(weekly: Path, digest: Digest, run_at: RunAt) -> None:
    config = config_of(weekly)
    with process_lock(config.settings.state, "run"):
        second = digest("run")
        assert second.exit_code == 1
        assert "another digest run is running" in second.output
        once = run_at(slot(1))
        assert once.exit_code == 0
        assert "leaves the slots to it" in once.output
    assert not (weekly / "outbox").exists()


def test_builds_of_one_slot_in_parallel_processes_make_one_issue(weekly: Path) -> None:
    """The guard below the run lock: the slot is checked inside the state's write lock."""
    code = (
        "from datetime import datetime\n"
        "from newsletter_digest.app.issues import build\n"
        "from newsletter_digest.config.loading import load_config\n"
        "from newsletter_digest.errors import SlotTakenError\n"
        "from newsletter_digest.models import Slot\n"
        f"config = load_config(__import__('pathlib').Path({str(weekly / 'digest.yaml')!r}))\n"
        f"at = datetime.fromisoformat({slot(1).isoformat()!r})\n"
        "try:\n"
        "    build(config, at, slot=Slot(at, 'Europe/Berlin'))\n"
        "    print('made')\n"
        "except SlotTakenError:\n"
        "    print('taken')\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = sorted(child.communicate(timeout=120)[0].strip() for child in children)
    assert outputs == ["made", "taken", "taken", "taken"]
    assert issues(weekly) == [1]
    assert slots(weekly) == [("2026-11-09T08:00:00Z", "Europe/Berlin", "made", 1)]


def test_slots_are_kept_in_utc_with_their_zone_once_each(tmp_path: Path) -> None:
    berlin_nine = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with open_state(tmp_path / "state.db") as state:
        with state.write_lock():
            state.record_slot(Slot(berlin_nine, "Europe/Berlin"), None, "2026-12-03T10:00:00")
        last = state.last_slot()
        assert last is not None and last.status == "skipped" and last.issue_number is None
        assert last.slot == Slot(datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "Europe/Berlin")
        with pytest.raises(StateError), state.write_lock():
            state.record_slot(Slot(berlin_nine, "Europe/Berlin"), None, "again")
        with pytest.raises(StateError), state.write_lock():  # no issue #7 to belong to
            state.record_slot(Slot(berlin_nine + WEEK, "Europe/Berlin"), 7, "later")
        assert len(state.slots()) == 1


def test_a_signal_during_a_send_stops_the_scheduler_around_it_too() -> None:
    from newsletter_digest.signals import stop_on_signals

    with stop_on_signals() as outer:
        with stop_on_signals() as inner:
            signal.raise_signal(signal.SIGTERM)
            assert inner()
        assert outer()
    with stop_on_signals() as fresh:
        assert not fresh()


def digest_command(project: Path) -> list[str]:
    return [sys.executable, "-m", "newsletter_digest", "--config", str(project / "digest.yaml")]


def test_concurrent_run_once_processes_make_exactly_one_issue(weekly: Path) -> None:
    code = (  # `digest run --once` at the slot's time: the clock injected, the rest real
        "import logging, sys\n"
        "from datetime import datetime\n"
        "from pathlib import Path\n"
        "from newsletter_digest.config.loading import load_config\n"
        "from newsletter_digest.schedule import runner\n"
        f"at = datetime.fromisoformat({(slot(1) + MINUTE).isoformat()!r})\n"
        f"config = load_config(Path({str(weekly / 'digest.yaml')!r}))\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "sys.exit(runner.run(config, once=True, clock=lambda: at))\n"
    )
    command = [sys.executable, "-c", code]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(4)
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0], outputs
    assert sum("issue #1 made" in output for output in outputs) == 1
    assert issues(weekly) == [1]
    assert slots(weekly) == [("2026-11-09T08:00:00Z", "Europe/Berlin", "made", 1)]


def test_run_in_real_time_makes_issues_and_stops_cleanly_on_sigterm(
    project: Path, digest: Digest
) -> None:
    schedule(project, 'schedule:\n  every: "2 seconds"\n  at: "00:00"\n  timezone: UTC\n')
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_path = project / "run.log"
    with log_path.open("w") as log_file:
        child = subprocess.Popen(
            [*digest_command(project), "run"], stdout=log_file, stderr=subprocess.STDOUT, env=env
        )
        try:
            deadline = time.monotonic() + 60
            while len(issues(project)) < 2 and time.monotonic() < deadline:
                assert child.poll() is None, log_path.read_text()
                time.sleep(0.1)
            assert len(issues(project)) >= 2, log_path.read_text()
            second = digest("run")
            assert second.exit_code == 1 and "another digest run is running" in second.output
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=30) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    log = log_path.read_text()
    assert "scheduler started: every 2s" in log
    assert "issue #1 made" in log and "stopped by a signal" in log
    assert "Traceback" not in log
    # The state is consistent: every issue in the outbox is recorded with its own slot.
    db = sqlite3.connect(project / ".digest" / "state.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    numbers = [row[0] for row in db.execute("SELECT number FROM issues ORDER BY number")]
    made = db.execute("SELECT issue_number FROM slots WHERE status = 'made' ORDER BY slot_utc")
    assert [row[0] for row in made] == numbers == issues(project)
    db.close()
    assert not [p for p in (project / "outbox").iterdir() if p.name.startswith(".")]


def test_run_and_next_have_help(weekly: Path) -> None:
    config = ["--config", str(weekly / "digest.yaml")]
    for command in (["run", "--help"], ["next", "--help"], [*config, "next"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0 and "slot" in result.output, result.output


@pytest.mark.parametrize("when", ["9999-12-31T12:00", "0001-01-01T00:00"])
def test_a_far_off_now_is_a_usage_error_not_a_crash(when: str, tmp_path: Path) -> None:
    (tmp_path / "digest.yaml").write_text(
        'title: T\nsender: a@example.org\nschedule:\n  every: monday\n  at: "09:00"\n'
    )
    for command in (["next", "--now", when], ["run", "--once", "--now", when]):
        result = CliRunner().invoke(cli, ["--config", str(tmp_path / "digest.yaml"), *command])
        assert result.exit_code == 2, result.output
        assert "between the years 1970 and 2999" in result.output
