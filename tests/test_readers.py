"""The reader book: CSV import/export, config lists synced in, refusals kept for good, and
the whole loop: import, send, one-click unsubscribe, the next issue skips the reader."""

from __future__ import annotations

import csv
import email
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

from click.testing import Result

from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.store import open_state
from smtp_helpers import Server, configure
from test_serve import ONE_CLICK, Running, tampered
from test_serve import configure as serve_configure

Digest = Callable[..., Result]


def statuses(project: Path) -> dict[str, str]:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        return {r.address: r.status for r in book.readers(state)}


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_csv_with_bad_rows_imports_the_rest_and_names_them(project: Path, digest: Digest) -> None:
    export = write_csv(
        project / "listmonk.csv",
        ["uuid", "email", "name", "attributes", "status", "created_at", "updated_at"],
        [
            ["1", "ann@example.org", "Ann", "{}", "enabled", "2024-01-01", ""],
            ["2", "not an address", "X", "{}", "enabled", "", ""],  # line 3
            ["3", "bob@example.org", "Bob", "{}", "blocklisted", "", ""],
            ["4", "", "Nobody", "{}", "enabled", "", ""],  # line 5
            ["5", "cy@example.org", "Cy", "{}", "enabled", "", ""],
            ["6", "dee@example.org", "Dee", "{}", "maybe", "", ""],  # line 7
        ],
    )
    result = digest("readers", "import", str(export))
    assert result.exit_code == 0, result.output
    assert "3 new" in result.output
    for line in (3, 5, 7):
        assert f"listmonk.csv:{line}: skipped" in result.output
    assert "3 rows skipped" in result.output
    got = statuses(project)
    assert got["ann@example.org"] == "active" and got["cy@example.org"] == "active"
    assert got["bob@example.org"] == "unsubscribed"
    again = digest("readers", "import", str(export))
    assert "0 new, 3 unchanged (already readers)" in again.output
    assert statuses(project) == got


def test_a_mailchimp_export_imports_as_it_is(project: Path, digest: Digest) -> None:
    subscribed = write_csv(
        project / "subscribed_members_export_1a2b.csv",
        ["Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME"],
        [["ann@example.org", "Ann", "Lee", "2", "2024-01-01 10:00:00"]],
    )
    cleaned = write_csv(
        project / "cleaned_members_export_1a2b.csv",
        ["Email Address", "First Name", "Last Name", "CLEAN_TIME"],
        [["gone@example.org", "", "", "2024-02-01"]],
    )
    assert digest("readers", "import", str(subscribed)).exit_code == 0
    assert digest("readers", "import", str(cleaned)).exit_code == 0
    listed = digest("readers", "list").output
    assert '"Ann Lee" <ann@example.org>' in listed
    assert statuses(project)["gone@example.org"] == "bounced"


def test_export_writes_what_import_reads(project: Path, digest: Digest) -> None:
    assert digest("readers", "add", "Zoë <zoe@example.org>").exit_code == 0
    assert digest("readers", "remove", "zoe@example.org").exit_code == 0
    out = project / "out.csv"
    assert digest("readers", "export", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    zoe = next(r for r in rows if r["email"] == "zoe@example.org")
    assert (zoe["name"], zoe["status"]) == ("Zoë", "unsubscribed")


def test_a_refusal_is_kept_whatever_lists_and_imports_say(project: Path, digest: Digest) -> None:
    """reader@example.org is in digest.yaml's recipients; removed, it stays removed."""
    assert digest("readers", "remove", "READER@example.org").exit_code == 0
    added = digest("readers", "add", "reader@example.org")
    assert added.exit_code == 1 and "stays so" in added.output
    export = write_csv(
        project / "in.csv", ["email", "status"], [["reader@example.org", "subscribed"]]
    )
    assert digest("readers", "import", str(export)).exit_code == 0
    assert digest("readers", "list").exit_code == 0  # syncs digest.yaml's list again
    assert statuses(project)["reader@example.org"] == "unsubscribed"


def test_a_reader_dropped_from_the_config_gets_nothing_but_keeps_the_row(
    project: Path, digest: Digest
) -> None:
    assert "reader@example.org" in digest("readers", "list").output
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("[reader@example.org]", "[a@example.org]"))
    listed = digest("readers", "list").output
    assert "(no longer in the config)" in listed and "reader@example.org" in listed


def test_check_warns_that_one_click_needs_base_url(project: Path, digest: Digest) -> None:
    result = digest("check")
    assert "one-click unsubscribe" in result.output and "base_url" in result.output


def test_import_send_unsubscribe_and_the_next_issue_skips_the_reader(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    smtp = servers()
    configure(project, smtp.port, recipients=[])
    config = project / "digest.yaml"
    text = (
        config.read_text()
        .replace("recipients:\n", "")
        .replace('unsubscribe: "https://example.org/unsubscribe?email={email}"\n', "")
    )
    config.write_text(text + "base_url: https://news.example.org\n")
    export = write_csv(
        project / "readers.csv",
        ["email", "name"],
        [["ann@example.org", "Ann"], ["bob@example.org", "Bob"], ["cy@example.org", "Cy"]],
    )
    assert digest("readers", "import", str(export)).exit_code == 0
    first = digest("build")
    assert first.exit_code == 0, first.output
    assert sorted(smtp.handler.recipients()) == [
        "ann@example.org",
        "bob@example.org",
        "cy@example.org",
    ]
    received = next(r for r in smtp.handler.received if r.rcpt_tos == ["bob@example.org"])
    message = email.message_from_bytes(received.data, policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://news.example.org/unsubscribe/")
    assert "bob" not in url  # the token carries no address
    html = message.get_body(("html",))
    assert html is not None and url in html.get_content()  # the footer link is the same
    running = Running(project)
    try:
        response = running.client.post(urlsplit(url).path, data=ONE_CLICK)
    finally:
        running.stop()
    assert response.status_code == 200
    smtp.handler.received.clear()
    second = digest("build")
    assert second.exit_code == 0, second.output
    assert sorted(smtp.handler.recipients()) == ["ann@example.org", "cy@example.org"]


STATES = ("active", "unconfirmed", "unsubscribed", "bounced", "complained")
# What a valid link does to a reader in each state: (the answer, the status after). A
# suppressed reader keeps the status that says most; a confirmation acts only on a reader
# still unconfirmed (here every link was made before the reader got to their state).
ACTS = {
    "unsubscribe": {
        "active": (200, "unsubscribed"),
        "unconfirmed": (200, "unsubscribed"),
        "unsubscribed": (200, "unsubscribed"),
        "bounced": (200, "bounced"),
        "complained": (200, "complained"),
    },
    "confirm": {
        "active": (400, "active"),
        "unconfirmed": (200, "active"),
        "unsubscribed": (400, "unsubscribed"),
        "bounced": (400, "bounced"),
        "complained": (400, "complained"),
    },
}
PRESS = {"unsubscribe": ONE_CLICK, "confirm": {"confirm": "yes"}}


def moment(seconds_ago: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds_ago, UTC).isoformat(timespec="seconds")


def signer(project: Path, seconds_ago: float = 0) -> Tokens:
    """The server's tokens, made as if ``seconds_ago`` seconds ago."""
    config = load_config(project / "digest.yaml")
    key = server_key(config.settings.state)
    return Tokens(key, clock=lambda: time.time() - seconds_ago)


def add_reader(project: Path, address: str, status: str, changed: str) -> book.Reader:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        return book.add(state, address, source="import", now=changed, status=status)[0]


def test_every_token_purpose_against_every_reader_state(project: Path, digest: Digest) -> None:
    serve_configure(project, "serve:\n  requests_per_minute: 1000\n")
    assert digest("build").exit_code == 0
    made_earlier = signer(project, seconds_ago=3600)
    running = Running(project)
    try:
        for purpose, acts in ACTS.items():
            for status, (code, after) in acts.items():
                address = f"{purpose}-{status}@example.org"
                reader = add_reader(project, address, status, moment(0))
                token = made_earlier.make(reader, purpose)
                for bad in tampered(token):
                    assert (
                        running.client.post(f"/{purpose}/{bad}", data=PRESS[purpose]).status_code
                        == 400
                    )
                assert running.client.get(f"/{purpose}/{token}").status_code == code, address
                assert statuses(project)[address] == status  # a GET changes nothing
                answer = running.client.post(f"/{purpose}/{token}", data=PRESS[purpose])
                assert (answer.status_code, statuses(project)[address]) == (code, after), address
            ghost = book.Reader(
                9999, "ghost@example.org", "", "active", "cli", True, None, "", "", "", "x"
            )
            unknown = running.client.post(
                f"/{purpose}/{made_earlier.make(ghost, purpose)}", data=PRESS[purpose]
            )
            assert unknown.status_code == 400
    finally:
        running.stop()
    assert "ghost@example.org" not in statuses(project)


def test_confirmation_links_expire_and_a_reader_who_left_may_ask_again(
    project: Path, digest: Digest
) -> None:
    serve_configure(project, "serve:\n  requests_per_minute: 1000\n  confirm_days: 2\n")
    assert digest("build").exit_code == 0
    day = 86400
    waiting = add_reader(project, "waiting@example.org", "unconfirmed", moment(4 * day))
    came_back = add_reader(project, "back@example.org", "unsubscribed", moment(2 * 3600))
    running = Running(project)
    try:
        expired = signer(project, seconds_ago=3 * day).make(waiting, "confirm")
        assert running.client.get(f"/confirm/{expired}").status_code == 400
        assert (
            running.client.post(f"/confirm/{expired}", data={"confirm": "yes"}).status_code == 400
        )
        assert statuses(project)["waiting@example.org"] == "unconfirmed"
        fresh = signer(project, seconds_ago=day).make(waiting, "confirm")
        assert running.client.post(f"/confirm/{fresh}", data={"confirm": "yes"}).status_code == 200
        assert statuses(project)["waiting@example.org"] == "active"
        # A reader who left, then asked again through the form: the new link works.
        again = signer(project).make(came_back, "confirm")
        assert running.client.post(f"/confirm/{again}", data={"confirm": "yes"}).status_code == 200
        assert statuses(project)["back@example.org"] == "active"
    finally:
        running.stop()
