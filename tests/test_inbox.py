"""What comes back: bounces, complaints and unsubscribe requests read from a Maildir or
mbox, acted on only with evidence that points at a delivery we made."""

from __future__ import annotations

import mailbox
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from newsletter_digest.config.loading import load_config
from newsletter_digest.inbox import mailboxes
from newsletter_digest.inbox.classify import classify
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.store import open_state
from smtp_helpers import Behaviour, Server, configure

Digest = Callable[..., Result]
DATA = Path(__file__).parent / "data" / "returns"
READERS = ["ann@example.org", "bob@example.org", "cy@example.org"]


def sample(name: str, **fields: str) -> bytes:
    text = (DATA / name).read_text(encoding="utf-8")
    defaults = {"recipient": "ann@example.org", "message_id": "<1@example.org>"}
    defaults |= {"verp": "0123456789abcdef", "token": "WzEsImFiYyJd.c2lnbmF0dXJl"}
    return text.format_map(defaults | fields).encode()


@pytest.mark.parametrize(
    ("name", "kind", "permanent", "status"),
    [
        ("postfix-dsn-5.1.1.eml", "bounce", True, "5.1.1"),
        ("postfix-delayed-4.4.1.eml", "bounce", False, "4.4.1"),
        ("exim-nonstandard.eml", "bounce", True, "5.1.1"),
        ("gmail-dsn-5.1.1.eml", "bounce", True, "5.1.1"),
        ("outlook-ndr-5.1.10.eml", "bounce", True, "5.1.10"),
        ("arf-complaint.eml", "complaint", False, "abuse"),
        ("unsubscribe-with-link.eml", "unsubscribe", False, ""),
        ("unsubscribe-authenticated.eml", "unsubscribe", False, ""),
        ("unsubscribe-forged.eml", "unsubscribe", False, ""),
        ("newsletter-reply.eml", "other", False, ""),
        ("malformed-dsn.eml", "other", False, ""),
    ],
)
def test_each_sample_is_classified(name: str, kind: str, permanent: bool, status: str) -> None:
    finding = classify(sample(name, message_id="<42.digest@example.org>"))
    assert (finding.kind, finding.permanent, finding.status) == (kind, permanent, status)
    if kind in ("bounce", "complaint"):
        assert "<42.digest@example.org>" in finding.message_ids


def test_verp_and_authentication_are_read() -> None:
    assert classify(sample("postfix-dsn-5.1.1.eml")).verp == ("0123456789abcdef",)
    assert classify(sample("arf-complaint.eml")).verp == ("0123456789abcdef",)
    ours = "mx.example.org"  # the receiving server that wrote the samples' results
    signed = sample("unsubscribe-authenticated.eml", recipient="reader@example.org")
    assert classify(signed, ours).authenticated
    assert not classify(signed).authenticated  # no authserv-id configured: trust none
    assert not classify(signed, "mx.elsewhere.example").authenticated  # written by another
    forged = classify(sample("unsubscribe-forged.eml", recipient="reader@example.org"), ours)
    assert not forged.authenticated
    lookalike = sample("unsubscribe-authenticated.eml", recipient="x@evilexample.org")
    assert not classify(lookalike, ours).authenticated  # example.org is not evilexample.org


def with_header_above(raw: bytes, header: str) -> bytes:
    return header.encode() + b"\n" + raw


@pytest.mark.parametrize(
    ("above", "believed"),
    [
        # Two headers of ours on top (one per check, as milters write them): both count.
        ("Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=reader@example.org", True),
        # Another server wrote the top one: the 'pass' with our id below it is forged.
        ("Authentication-Results: mx.elsewhere.example; dkim=pass header.d=example.org", False),
        ("Authentication-Results: mx.elsewhere.example; none", False),
        ("Authentication-Results: ;;; not parseable", False),
        ("Received: from relay.example.net by mx.example.org", True),  # not a result header
    ],
)
def test_only_our_servers_topmost_results_are_believed(above: str, believed: bool) -> None:
    # The sample carries 'mx.example.org; dkim=pass; spf=pass' for the From domain.
    signed = sample("unsubscribe-authenticated.eml", recipient="reader@example.org")
    assert classify(signed, "mx.example.org").authenticated
    finding = classify(with_header_above(signed, above), "mx.example.org")
    assert finding.authenticated is believed


def test_hostile_messages_are_other_and_never_raise() -> None:
    bomb = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 500
    assert "MIME parts" in classify(bomb + b"--b--\r\n").reason
    assert "larger than" in classify(b"Subject: x\r\n\r\n" + b"x" * (11 * 2**20)).reason
    assert classify(b"Subject: \xff\xfe\x80 bad\r\nFrom: \xc3\x28\r\n\r\nbody").kind == "other"
    assert classify(b"\x00\x01garbage").kind == "other"
    bogus = b"From: a@b.example\r\nSubject: hi\r\nContent-Type: text/plain; charset=x-bogus"
    assert classify(bogus + b"\r\n\r\nunsubscribe\r\n").kind == "unsubscribe"
    nul = b"Content-Type: multipart/report; report-type=delivery-status; boundary=X\r\n\r\n"
    nul += b'--X\r\nContent-Type: text/rfc822-headers; charset="utf-8\x00"\r\n\r\n'
    assert classify(nul + b"Message-ID: <a@b>\r\n--X--\r\n").kind == "other"


@pytest.fixture
def sent(project: Path, digest: Digest, servers: Callable[..., Server]) -> dict[str, str]:
    """Issue #1 sent to three readers over SMTP (VERP on); each reader's Message-ID/token."""
    smtp = servers(Behaviour())
    configure(project, smtp.port, smtp="verp: true\nreturn_path: bounces@example.org")
    config = project / "digest.yaml"
    text = config.read_text().replace("recipients:\n", "recipients: []\n")
    config.write_text(text.replace("  - 'reader", "#  - 'reader"))
    for reader in READERS:
        assert digest("readers", "add", reader).exit_code == 0
    assert digest("build").exit_code == 0
    db = sqlite3.connect(project / ".digest" / "state.db")
    rows = db.execute("SELECT recipient, message_id, token FROM deliveries").fetchall()
    db.close()
    return {r: m for r, m, _ in rows} | {f"token:{r}": t for r, _, t in rows}


def maildir(project: Path, *messages: bytes) -> Path:
    box = mailbox.Maildir(project / "Maildir", create=True)
    for message in messages:
        box.add(message)
    return project / "Maildir"


def statuses(project: Path) -> dict[str, str]:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        return {r.address: r.status for r in book.readers(state)}


def test_a_bounce_and_a_complaint_stop_the_next_issue_for_those_two(
    project: Path, digest: Digest, sent: dict[str, str], servers: Callable[..., Server]
) -> None:
    box = maildir(
        project,
        sample(
            "postfix-dsn-5.1.1.eml",
            recipient="ann@example.org",
            message_id=sent["ann@example.org"],
            verp=sent["token:ann@example.org"],
        ),
        sample(
            "arf-complaint.eml",
            recipient="bob@example.org",
            message_id=sent["bob@example.org"],
            verp=sent["token:bob@example.org"],
        ),
        sample("newsletter-reply.eml", recipient="cy@example.org"),
    )
    result = digest("inbox", str(box))
    assert result.exit_code == 0, result.output
    assert statuses(project) == {
        "ann@example.org": "bounced",
        "bob@example.org": "complained",
        "cy@example.org": "active",
    }
    assert len(list((box / ".processed" / "cur").iterdir())) == 2
    assert len(list((box / "new").iterdir())) == 1  # the reply is left where it is
    assert "bounce 5.1.1" in digest("readers", "list", "--status", "bounced").output
    again = digest("inbox", str(box))  # nothing new: nothing changes
    assert "0 processed" in again.output
    smtp = servers(Behaviour())
    configure(project, smtp.port, smtp="verp: true\nreturn_path: bounces@example.org")
    config = project / "digest.yaml"
    text = config.read_text().replace("recipients:\n", "recipients: []\n")
    config.write_text(text.replace("  - 'reader", "#  - 'reader"))
    assert digest("build").exit_code == 0
    assert smtp.handler.recipients() == ["cy@example.org"]


@pytest.mark.parametrize(
    "name", ["exim-nonstandard.eml", "gmail-dsn-5.1.1.eml", "outlook-ndr-5.1.10.eml"]
)
def test_other_servers_bounces_are_tied_to_their_delivery(
    project: Path, digest: Digest, sent: dict[str, str], name: str
) -> None:
    reader = "cy@example.org"
    raw = sample(name, recipient=reader, message_id=sent[reader], verp=sent[f"token:{reader}"])
    assert digest("inbox", str(maildir(project, raw))).exit_code == 0
    assert statuses(project)[reader] == "bounced"


def test_forged_and_unrelated_reports_change_nobody(
    project: Path, digest: Digest, sent: dict[str, str]
) -> None:
    box = maildir(
        project,
        sample("dsn-for-a-message-never-sent.eml", recipient="ann@example.org"),
        sample("unsubscribe-forged.eml", recipient="ann@example.org"),
        sample("malformed-dsn.eml", recipient="ann@example.org"),
        # A real Message-ID of ours, but the report says another reader failed.
        sample(
            "gmail-dsn-5.1.1.eml", recipient="bob@example.org", message_id=sent["ann@example.org"]
        ),
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 500,
    )
    result = digest("inbox", str(box))
    assert result.exit_code == 0, result.output
    assert set(statuses(project).values()) == {"active"}
    assert "never sent" in result.output
    assert "needs you" in result.output
    assert "another address" in result.output


def test_unsubscribes_by_mail_need_a_link_or_authentication(
    project: Path, digest: Digest, sent: dict[str, str]
) -> None:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        bob = book.find(state, "bob@example.org")
        assert bob is not None
        token = Tokens(server_key(config.settings.state)).make(bob, "unsubscribe")
    config = project / "digest.yaml"
    config.write_text(config.read_text() + "authserv_id: mx.example.org\n")
    box = maildir(
        project,
        sample("unsubscribe-with-link.eml", token=token),
        sample("unsubscribe-authenticated.eml", recipient="cy@example.org"),
    )
    assert digest("inbox", str(box)).exit_code == 0
    got = statuses(project)
    assert (got["bob@example.org"], got["cy@example.org"]) == ("unsubscribed", "unsubscribed")


def test_temporary_failures_bounce_after_three_different_days(
    project: Path, digest: Digest, sent: dict[str, str]
) -> None:
    reader = "ann@example.org"
    db = sqlite3.connect(project / ".digest" / "state.db")
    (reader_id,) = db.execute("SELECT id FROM readers WHERE address = ?", (reader,)).fetchone()
    db.execute("INSERT INTO soft_bounces VALUES (?, '2026-11-01', 'x')", (reader_id,))
    db.commit()
    delayed = sample("postfix-delayed-4.4.1.eml", recipient=reader, message_id=sent[reader])
    assert digest("inbox", str(maildir(project, delayed))).exit_code == 0
    assert statuses(project)[reader] == "active"  # two days so far
    db.execute("INSERT INTO soft_bounces VALUES (?, '2026-11-15', 'x')", (reader_id,))
    db.commit()
    db.close()
    again = sample("postfix-delayed-4.4.1.eml", recipient=reader, message_id=sent[reader])
    again = again.replace(b"<20261202100000.B1@", b"<20261203100000.B2@")
    assert digest("inbox", str(maildir(project, again))).exit_code == 0
    assert statuses(project)[reader] == "bounced"


def test_dry_run_changes_nothing_and_mbox_is_read(
    project: Path, digest: Digest, sent: dict[str, str]
) -> None:
    reader = "ann@example.org"
    mbox_path = project / "returns.mbox"
    box = mailbox.mbox(mbox_path)
    box.add(sample("gmail-dsn-5.1.1.eml", recipient=reader, message_id=sent[reader]))
    box.close()
    dry = digest("inbox", str(mbox_path), "--dry-run")
    assert dry.exit_code == 0 and "would be: bounced" in dry.output
    assert statuses(project)[reader] == "active"
    assert digest("inbox", str(mbox_path)).exit_code == 0
    assert statuses(project)[reader] == "bounced"
    assert "0 processed" in digest("inbox", str(mbox_path)).output  # recorded: not twice


def test_a_5_1_x_refusal_at_send_time_bounces_the_reader(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    smtp = servers(Behaviour(refuse={"gone@example.org": "550 5.1.1 <gone@example.org>: no"}))
    configure(project, smtp.port, recipients=["ok@example.org", "gone@example.org"])
    assert digest("build").exit_code == 0  # handled: reported, nothing for a person to do
    assert statuses(project)["gone@example.org"] == "bounced"
    assert statuses(project)["ok@example.org"] == "active"


def test_no_mailbox_is_a_clear_error(project: Path, digest: Digest) -> None:
    result = digest("inbox")
    assert result.exit_code == 1 and "set 'inbox' in digest.yaml" in result.output
    missing = digest("inbox", str(project / "nowhere"))
    assert missing.exit_code == 1 and "no mailbox at" in missing.output


def test_a_verp_token_is_proof_enough_and_a_message_id_must_name_the_address(
    project: Path, digest: Digest, sent: dict[str, str]
) -> None:
    """As docs/returns.md says: a bounce to Ann's VERP address bounces Ann whatever address
    its report names (a forwarded mailbox names its final one); a bounce tied to us only by
    a Message-ID must name the address that message went to, or it is skipped."""
    to_anns_verp = sample(
        "postfix-dsn-5.1.1.eml",
        recipient="bob@example.org",  # Final-Recipient: another reader's address
        message_id="<not-one-of-ours@elsewhere.example>",
        verp=sent["token:ann@example.org"],
    )
    result = digest("inbox", str(maildir(project, to_anns_verp)))
    assert result.exit_code == 0, result.output
    assert statuses(project) == {
        "ann@example.org": "bounced",
        "bob@example.org": "active",
        "cy@example.org": "active",
    }
    by_message_id = sample(
        "postfix-dsn-5.1.1.eml",
        recipient="bob@example.org",  # but Cy's message was the one sent with that id
        message_id=sent["cy@example.org"],
        verp="",  # to the plain return path: no VERP token
    )
    result = digest("inbox", str(maildir(project, by_message_id)))
    assert result.exit_code == 0, result.output
    assert "skipped: the report is about another address" in result.output
    assert statuses(project)["bob@example.org"] == "active"
    assert statuses(project)["cy@example.org"] == "active"


def mime_bomb(shape: str, newline: bytes = b"\n") -> bytes:
    """The three shapes that made every run pay again: 3,000,000 short lines, parts nested
    900 levels deep, 900,000 sibling parts (each under the 10 MiB size cap); and 60,000
    sibling parts, few enough lines to reach the parser's own part count."""
    if shape == "lines":
        head = b"From: mailer-daemon@mx.example.net\nSubject: failure notice\n\n"
        return (head + b"x\n" * 3_000_000).replace(b"\n", newline)
    if shape == "deep":
        head, tail = [], []
        for level in range(900):
            head.append(f"Content-Type: multipart/mixed; boundary=b{level}\n\n".encode())
            head.append(b"preamble line\n" * 40 + f"--b{level}\n".encode())
            tail.append(f"\n--b{level}--\n".encode())
        body = b"".join(head) + b"Content-Type: text/plain\n\nx" + b"".join(reversed(tail))
        return body.replace(b"\n", newline)
    count = 900_000 if shape == "wide" else 60_000
    wide = b"Content-Type: multipart/mixed; boundary=b\n\n" + b"--b\n\nx\n" * count
    return (wide + b"--b--\n").replace(b"\n", newline)


BOMBS = ("lines", "deep", "wide", "parts")
# Peak memory as VmHWM, this process's own high-water mark: ru_maxrss would start at the
# size of the (forked) test runner and hide any growth below it.
_MEASURE = """
import re, sys, time
from newsletter_digest.inbox.classify import classify
def peak_kib():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
raw = open(sys.argv[1], "rb").read()
before = peak_kib()
started = time.monotonic()
finding = classify(raw)
seconds = time.monotonic() - started
grown = peak_kib() - before
print(seconds, grown // 1024, finding.unread, finding.reason)
"""


@pytest.mark.parametrize("shape", BOMBS)
def test_a_mime_bomb_is_read_in_bounded_time_and_memory(shape: str, tmp_path: Path) -> None:
    bomb = tmp_path / f"{shape}.eml"
    bomb.write_bytes(mime_bomb(shape))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(bomb)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout.split(maxsplit=3)
    seconds, grown_mib, unread, reason = float(measured[0]), int(measured[1]), *measured[2:]
    assert seconds < 3, f"{shape}: {seconds:.1f} s"
    assert grown_mib < 40, f"{shape}: peak memory grew {grown_mib} MiB"
    assert unread == "True"
    assert reason.startswith(("too large", "too deep", "too many parts")), reason


def test_mime_bombs_are_moved_once_with_a_note(project: Path, digest: Digest) -> None:
    box = maildir(project, *(mime_bomb(shape) for shape in BOMBS))
    started = time.monotonic()
    result = digest("inbox", str(box))
    assert time.monotonic() - started < 10
    assert result.exit_code == 0, result.output
    assert result.output.count("moved unread: too large: more than 200,000 lines") == 2
    assert "moved unread: too deep" in result.output
    assert "moved unread: too many parts" in result.output
    assert "4 messages: 4 processed" in result.output
    assert len(list((box / ".processed" / "cur").iterdir())) == 4
    assert not list((box / "new").iterdir())
    again = digest("inbox", str(box))
    assert "0 messages: 0 processed" in again.output
    assert set(statuses(project).values()) <= {"active"}


def test_mime_bombs_in_an_mbox_are_recorded_once(project: Path, digest: Digest) -> None:
    # An mbox is never rewritten: what it holds is recorded as processed and skipped after.
    mbox_path = project / "returns.mbox"
    box = mailbox.mbox(mbox_path)
    for shape in ("deep", "parts"):
        box.add(mime_bomb(shape))
    box.close()
    first = digest("inbox", str(mbox_path))
    assert "2 messages: 2 processed" in first.output, first.output
    again = digest("inbox", str(mbox_path))
    assert "0 messages: 0 processed" in again.output


def test_an_mbox_of_many_short_lines_is_read_quickly_every_run(
    project: Path, digest: Digest
) -> None:
    """An mbox is read again on every run: a stranger's 3,000,000-line message must not make
    each one pay 10-20 s to find where the messages start."""
    mbox_path = project / "returns.mbox"
    box = mailbox.mbox(mbox_path)
    for shape in ("lines", "wide"):
        box.add(mime_bomb(shape))
    box.close()
    for run in ("first", "again"):
        started = time.monotonic()
        result = digest("inbox", str(mbox_path))
        took = time.monotonic() - started
        assert result.exit_code == 0, result.output
        assert took < 6, f"{run} run: {took:.1f} s"
    assert "0 messages: 0 processed" in result.output


mbox_lines = st.lists(
    st.sampled_from([b"From a@b Sat Jan  1 00:00:00 2000", b"", b"x", b">From x", b"From"])
    | st.binary(max_size=8).filter(lambda line: b"\n" not in line),
    max_size=12,
)


@given(mbox_lines, st.booleans())
def test_the_mbox_reader_splits_as_the_standard_library_does(
    lines: list[bytes], last_newline: bool
) -> None:
    """The same messages, byte for byte, as mailbox.mbox: a message's key stays the same."""
    text = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "returns.mbox"
        path.write_bytes(text)
        box = mailbox.mbox(path, create=False)
        expected = [box.get_bytes(key) for key in box.iterkeys()]
        box.close()
        assert [item.raw for item in mailboxes.read(path)] == expected
