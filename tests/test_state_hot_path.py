"""The statements a send runs once per message (a delivery's outcome, a reader's lookup):
compiled once and run by the driver, with the same guarantees as a Core call."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from newsletter_digest.models import IssueRecord
from newsletter_digest.readers import book
from newsletter_digest.state.store import State, open_state

RECIPIENTS = [f"reader{n}@example.org" for n in range(40)]


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    with open_state(tmp_path / "state.db") as opened:
        opened.record_issue(IssueRecord(1, date(2026, 12, 1), "now", "s", "<m@x>", "issue-0001"))
        book.sync_config(opened, RECIPIENTS, "now")
        opened.add_deliveries(1, [(r, f"<{n}@x>") for n, r in enumerate(RECIPIENTS)], "now")
        yield opened


def _on_disk(path: Path) -> dict[str, str]:
    """The delivery log as another process sees it (committed rows only)."""
    other = sqlite3.connect(path)
    try:
        return dict(other.execute("SELECT recipient, status FROM deliveries").fetchall())
    finally:
        other.close()


def test_each_outcome_is_committed_before_mark_returns(state: State) -> None:
    """A send killed after any message leaves every earlier outcome on disk."""
    assert state.path is not None
    for n, recipient in enumerate(RECIPIENTS[:5]):
        state.mark(1, recipient, "sent", "250 ok", "now", attempts=1)
        statuses = _on_disk(state.path)
        assert [statuses[r] for r in RECIPIENTS[: n + 2]] == ["sent"] * (n + 1) + ["pending"]


def test_an_outcome_inside_a_step_is_undone_with_it(state: State) -> None:
    """Inside a write lock, a mark is part of the step's transaction, not committed alone."""
    assert state.path is not None
    with pytest.raises(RuntimeError), state.write_lock():
        state.mark(1, RECIPIENTS[0], "sent", "250 ok", "now", attempts=1)
        raise RuntimeError("the step failed")
    assert _on_disk(state.path)[RECIPIENTS[0]] == "pending"


def test_a_sent_delivery_stays_sent(state: State) -> None:
    state.mark(1, RECIPIENTS[0], "sent", "250 ok", "t1", attempts=1)
    state.mark(1, RECIPIENTS[0], "failed-temporary", "421 later", "t2", attempts=1)
    (first,) = state.deliveries(1, limit=1)
    assert (first.status, first.attempts, first.last_reply) == ("sent", 1, "250 ok")


def test_a_lookup_finds_the_reader_or_nobody(state: State) -> None:
    found = book.find(state, "Reader3@Example.org")
    assert found is not None and found.mailbox == RECIPIENTS[3]
    assert book.find(state, "nobody@example.org") is None


def test_per_message_statements_skip_cores_execution(state: State) -> None:
    """A send's cost per message is the statement's: marking and looking up 40 readers runs
    no statement through Core's per-execution machinery (it cost twice the statement)."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(Engine, "before_cursor_execute", count)
    try:
        for recipient in RECIPIENTS:
            assert book.find(state, recipient) is not None
            state.mark(1, recipient, "sent", "250 ok", "now", attempts=1)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert seen == []
    assert state.delivery_counts() == {1: {"sent": len(RECIPIENTS)}}
