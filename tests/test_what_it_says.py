"""What the tool says is true: `check` counts the reader book, `readers list` and `readers
import` say exactly what is there and what changed, a line with two addresses is refused,
and a routine hard bounce is reported, not an exit code that wakes someone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter_digest.addresses import mailbox_key
from newsletter_digest.app.checks import active_count
from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book
from newsletter_digest.state.store import open_state
from smtp_helpers import Behaviour, Server, configure

Digest = Callable[..., Result]


def smtp_without_recipients(project: Path, port: int = 2525) -> None:
    """SMTP configured (nothing is sent by these tests), no readers in digest.yaml."""
    configure(project, port, recipients=[])
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("recipients:\n", ""))


def test_check_counts_the_readers_in_the_book(project: Path, digest: Digest) -> None:
    smtp_without_recipients(project)
    for reader in ("ann@example.org", "bob@example.org", "cy@example.org"):
        assert digest("readers", "add", reader).exit_code == 0
    checked = digest("check")
    assert "recipients: 3 active readers" in checked.output, checked.output
    assert "outbox only" not in checked.output
    assert digest("readers", "remove", "bob@example.org").exit_code == 0
    assert "recipients: 2 active readers" in digest("check").output


def test_check_counts_config_readers_as_the_book_has_them(project: Path, digest: Digest) -> None:
    """reader@example.org is in digest.yaml; once unsubscribed, it is nobody's recipient."""
    assert "recipients: 1 active reader (no smtp section" in digest("check").output
    assert digest("readers", "add", "new@example.org").exit_code == 0
    assert "recipients: 2 active readers" in digest("check").output
    assert digest("readers", "remove", "reader@example.org").exit_code == 0
    assert digest("readers", "remove", "new@example.org").exit_code == 0
    assert "recipients: none (outbox only)" in digest("check").output


def test_a_hard_bounce_among_many_is_reported_and_exits_0(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    """Cron mails the operator on a non-zero exit: a 5.1.1 is handled (the reader is marked
    bounced), so it is in the summary, not in the exit code."""
    readers = [f"r{n}@example.org" for n in range(12)]
    server = servers(Behaviour(refuse={"r7@example.org": "550 5.1.1 <r7@example.org>: no"}))
    configure(project, server.port, recipients=readers)
    built = digest("build")
    assert built.exit_code == 0, built.output
    assert "11 sent" in built.output and "1 failed" in built.output
    assert "1 bounced: no such address" in built.output
    assert "r7@example.org: 550 5.1.1" in built.output
    assert "error" not in built.output
    again = digest("send")
    assert again.exit_code == 0, again.output
    assert server.handler.recipients().count("r7@example.org") == 0


def test_what_needs_a_person_still_exits_1(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    """A permanent refusal that is not a dead address (policy, content) is not handled by
    bouncing the reader: exit 1, with the hint."""
    readers = [f"r{n}@example.org" for n in range(4)]
    refused = {"r2@example.org": "554 5.7.1 <r2@example.org>: message refused as spam"}
    configure(project, servers(Behaviour(refuse=refused)).port, recipients=readers)
    built = digest("build")
    assert built.exit_code == 1
    assert "did not reach 1 of 4" in built.output and "fix or remove" in built.output
    assert "bounced" not in built.output


def write_listmonk(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A listmonk subscribers export: (email, status) rows."""
    lines = ["uuid,email,name,attributes,status,created_at,updated_at"]
    lines += [f"{n},{email},,{{}},{status},2024-01-01," for n, (email, status) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_readers_import_names_every_change_it_made(project: Path, digest: Digest) -> None:
    assert digest("readers", "add", "ann@example.org").exit_code == 0
    assert digest("readers", "add", "cy@example.org").exit_code == 0
    assert digest("readers", "remove", "cy@example.org").exit_code == 0
    export = write_listmonk(
        project / "listmonk.csv",
        [
            ("ann@example.org", "blocklisted"),  # Ann unsubscribed in listmonk
            ("bob@example.org", "enabled"),  # new
            ("cy@example.org", "enabled"),  # unsubscribed here: stays so
            ("reader@example.org", "enabled"),  # in digest.yaml already, active
            ("dee@example.org", "blocklisted"),  # new, and a refusal from the start
        ],
    )
    result = digest("readers", "import", str(export))
    assert result.exit_code == 0, result.output
    assert (
        "listmonk.csv: 2 new (1 active, 1 unsubscribed), 1 unsubscribed, "
        "1 kept unsubscribed (a refusal stays), 1 unchanged (already readers)"
    ) in result.output
    again = digest("readers", "import", str(export))
    assert "listmonk.csv: 0 new, 1 kept unsubscribed (a refusal stays), 4 unchanged" in (
        again.output
    )


def test_a_recipients_file_line_with_two_addresses_is_refused_by_file_and_line(
    project: Path, digest: Digest
) -> None:
    listing = project / "readers.txt"
    listing.write_text("# our readers\nann@example.org\nbob@example.org, cy@example.org\n")
    config = project / "digest.yaml"
    config.write_text(config.read_text() + "recipients_file: readers.txt\n")
    for command in (["check"], ["build"]):
        result = digest(*command)
        assert result.exit_code == 1
        assert f"recipients_file: {listing}:3:" in result.output, result.output
        assert "holds 2 addresses" in result.output
    assert not (project / "outbox").exists()  # nothing built for half a list


def test_two_addresses_in_one_entry_are_refused_everywhere(project: Path, digest: Digest) -> None:
    added = digest("readers", "add", "Bob <bob@example.org>, Cy <cy@example.org>")
    assert added.exit_code == 1 and "holds 2 addresses" in added.output
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("[reader@example.org]", '["a@x.org; b@y.org"]'))
    assert "holds 2 addresses" in digest("check").output
    # One address with a quoted comma in its name is one address.
    config.write_text(config.read_text().replace('"a@x.org; b@y.org"', "'\"Doe, J\" <j@x.org>'"))
    assert digest("check").exit_code == 0, digest("check").output


def test_readers_list_ends_with_its_summary_on_a_line_of_its_own(
    project: Path, digest: Digest
) -> None:
    """The summary used to go to stderr: wherever the two streams are captured apart and
    shown one after the other, it ran into a last row without a note (…+00:002 shown)."""
    assert digest("readers", "add", "ann@example.org").exit_code == 0
    assert digest("readers", "add", "bob@example.org").exit_code == 0
    assert digest("readers", "remove", "bob@example.org").exit_code == 0
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        bob = book.find(state, "bob@example.org")
        assert bob is not None
        book.set_status(state, bob.id, "bounced", "550 5.1.1 <bob>:\n    User unknown", "now")
    listed = digest("readers", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[-1] == "3 shown; 2 active, 1 bounced"
    assert [line.split()[0] for line in lines[:-1]] == [
        "reader@example.org",
        "ann@example.org",
        "bob@example.org",
    ]
    assert lines[-2].endswith("550 5.1.1 <bob>: User unknown")  # one line per reader
    only = digest("readers", "list", "--status", "active").stdout.splitlines()
    assert only[-1] == "2 shown; 2 active, 1 bounced" and only[-2].startswith("ann@")


def test_a_scheduled_run_with_a_hard_bounce_exits_0(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    """`digest run --once` from cron: the slot due now is made and sent; the one hard bounce
    is logged, the reader marked bounced, and the exit code stays 0."""
    readers = [f"r{n}@example.org" for n in range(6)]
    server = servers(Behaviour(refuse={"r3@example.org": "550 5.1.1 <r3@example.org>: no"}))
    configure(project, server.port, recipients=readers)
    config = project / "digest.yaml"
    config.write_text(config.read_text() + 'schedule: {every: "1h", grace: "2h"}\n')
    result = digest("run", "--once")
    assert result.exit_code == 0, result.output
    assert sorted(server.handler.recipients()) == sorted(set(readers) - {"r3@example.org"})
    assert "1 of them bounced" in result.output


ADDRESSES = [f"r{n}@example.org" for n in range(8)]
subsets = st.lists(st.sampled_from(ADDRESSES), unique=True, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=subsets,
    others=st.lists(
        st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(["cli", "import", "form"])),
        max_size=6,
    ),
    changes=st.lists(st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(book.STATUSES))),
    now=subsets,
)
def test_check_counts_whom_the_next_send_goes_to(
    tmp_path_factory: pytest.TempPathFactory,
    before: list[str],
    others: list[tuple[str, str]],
    changes: list[tuple[str, str]],
    now: list[str],
) -> None:
    """Oracle: sync the config's list into the book as a send does, then count the active."""
    with open_state(tmp_path_factory.mktemp("book") / "state.db") as state:
        book.sync_config(state, before, "t0")  # the config's list at the last send
        for address, source in others:
            book.add(state, address, source=source, now="t1")
        for address, status in changes:
            reader = book.find(state, address)
            if reader is not None:
                book.set_status(state, reader.id, status, "test", "t2")
        counted = active_count(book.readers(state), {mailbox_key(a) for a in now})
        book.sync_config(state, now, "t3")  # what the next send does first
        assert counted == sum(1 for _ in book.active(state))
