"""The fast per-recipient path must mean exactly what the standard library's message means."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from newsletter_digest.build import outbox_message
from newsletter_digest.compose import (
    _ENCODED_WORD,
    MessageFactory,
    _qp_line,
    _qp_lines,
    compose,
    list_id,
    to_bytes,
)
from newsletter_digest.config import load_config
from newsletter_digest.models import RenderedIssue
from newsletter_digest.personal import EMAIL, EMAIL_QUOTED, fill_text, personalize

WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SENDER = "Zoë's Digest <news@example.org>"
LIST = '"Digest" <digest.example.org>'


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def meaning(data: bytes) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Headers (decoded) and each part's type and decoded text, line ends normalised."""
    message = parse(data)
    skip = {"content-type", "content-transfer-encoding"}
    headers = {k.lower(): str(v) for k, v in message.items() if k.lower() not in skip}
    parts = [
        (part.get_content_type(), part.get_content().replace("\r\n", "\n"))
        for part in message.iter_parts()
    ]
    return headers, parts


def slow(rendered: RenderedIssue, recipient: str, unsubscribe: str | None) -> bytes:
    """The naive path: a fresh EmailMessage per recipient with the whole body set."""
    msg = compose(
        personalize(rendered, recipient),
        sender=SENDER,
        recipients=[recipient],
        date=WHEN,
        message_id="<42.digest@example.org>",
        unsubscribe=fill_text(unsubscribe, recipient) if unsubscribe else None,
        list_name=LIST,
    )
    return to_bytes(msg, utf8=not recipient.isascii())


def fast(rendered: RenderedIssue, recipient: str, unsubscribe: str | None) -> bytes:
    factory = MessageFactory(
        rendered, sender=SENDER, date=WHEN, unsubscribe=unsubscribe, list_name=LIST
    )
    return factory.message(recipient, "<42.digest@example.org>")


ISSUE = RenderedIssue(
    subject="Digest #3: Café, crème & ☕",
    preheader="pre",
    html="<html><body><p>Hello &amp; welcome</p>" + "<p>x</p>" * 3000 + "</body></html>",
    text="Hello & welcome\n\n1. Café\n" + "long line " * 200 + "\n.dot at start\n",
)
PERSONAL = RenderedIssue(
    subject=f"For {EMAIL}",
    preheader="pre",
    html=f'<a href="https://example.org/u?e={EMAIL_QUOTED}">unsubscribe {EMAIL}</a>',
    text=f"Unsubscribe {EMAIL}: https://example.org/u?e={EMAIL_QUOTED}\n",
)


@pytest.mark.parametrize(
    ("rendered", "recipient", "unsubscribe"),
    [
        (ISSUE, "reader@example.org", "https://example.org/unsubscribe"),
        (ISSUE, "Ann Example <ann@example.org>", "mailto:news@example.org?subject=stop"),
        (ISSUE, "Jörg Müller <joerg@example.org>", None),
        (ISSUE, "zoë@example.org", "https://example.org/u"),
        (PERSONAL, "a+b@example.org", f"https://example.org/u?e={EMAIL_QUOTED}"),
        (RenderedIssue("S " * 60, "p", "<p>h</p>", "t"), "r@example.org", None),
        (
            RenderedIssue(
                "Long lines",
                "p",
                "<p>" + "é" * 300 + "</p>\n<a href='u?e=" + EMAIL_QUOTED + "'>x</a>\n \n" * 3,
                "line one \nfor " + EMAIL + " = you\n\n" + "ü " * 200 + "\n",
            ),
            "a+b@example.org",
            None,
        ),
    ],
)
def test_fast_and_slow_messages_mean_the_same(
    rendered: RenderedIssue, recipient: str, unsubscribe: str | None
) -> None:
    assert meaning(fast(rendered, recipient, unsubscribe)) == meaning(
        slow(rendered, recipient, unsubscribe)
    )


def test_fast_message_fills_personal_fields_per_recipient() -> None:
    factory = MessageFactory(
        PERSONAL,
        sender=SENDER,
        date=WHEN,
        unsubscribe=f"https://example.org/u?e={EMAIL_QUOTED}",
    )
    first = parse(factory.message("a+b@example.org", "<1@example.org>"))
    second = parse(factory.message("c@example.org", "<2@example.org>"))
    assert first["Subject"] == "For a+b@example.org"
    assert first["List-Unsubscribe"] == "<https://example.org/u?e=a%2Bb@example.org>"
    assert second["To"] == "c@example.org"
    html = second.get_body(("html",))
    assert html is not None and "e=c@example.org" in html.get_content()
    assert "x-digest-recipient" not in first.as_string() + second.as_string()


def test_fast_message_is_7bit_with_short_crlf_lines() -> None:
    data = fast(ISSUE, "reader@example.org", "https://example.org/u")
    assert all(byte < 128 for byte in data)
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 78
    assert b"\n" not in data.replace(b"\r\n", b"")


@settings(max_examples=60, deadline=None)
@given(
    subject=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=120),
    text=st.text(
        st.characters(
            blacklist_categories=("Cs",),
            blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
        ),
        max_size=400,
    ),
)
def test_any_subject_and_text_survive_the_fast_path(subject: str, text: str) -> None:
    subject = " ".join(subject.split()) or "x"
    rendered = RenderedIssue(subject=subject, preheader="", html="<p>x</p>", text=text)
    agrees_with_slow(fast(rendered, "r@example.org", None), rendered)


def agrees_with_slow(data: bytes, rendered: RenderedIssue) -> None:
    """The fast message reads back the subject exactly and otherwise means what the slow one
    means. The slow one is no oracle for the subject: the policy sometimes reads it back
    with a leading space, or a doubled one where it RFC 2047-encodes a long word."""
    ours, parts = meaning(data)
    theirs, slow_parts = meaning(slow(rendered, "r@example.org", None))
    assert ours.pop("subject") == rendered.subject
    theirs.pop("subject")
    assert (ours, parts) == (theirs, slow_parts)


def subject_lines(data: bytes) -> list[bytes]:
    """The Subject header as written: its first line and each folded line after it."""
    start = data.index(b"\r\nSubject:") + 2
    lines = data[start:].split(b"\r\n")
    count = 1
    while lines[count].startswith(b" "):
        count += 1
    return lines[:count]


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=90),
        min_size=1,
        max_size=40,
    )
)
@example(
    words=["0", "0", "00", "00", "0000", "00000", "0000000", "000000000", "0" * 12 + "=?", "0" * 16]
)
@example(words=["a", "=?", "b", "=?x?y?=", *["word"] * 20])
@example(words=["b" * 70, "a" * 80])  # the policy reads it back with a doubled space
def test_long_ascii_subjects_fold_at_spaces_and_read_back_whole(words: list[str]) -> None:
    """Folded here, without the email package: short lines (but for a word too long to fold),
    and the subject the policy reads, "=?" and all unless it spells an encoded word."""
    subject = " ".join(words)
    assume(not _ENCODED_WORD.search(subject))
    rendered = RenderedIssue(subject=subject, preheader="", html="<p>x</p>", text="x")
    data = fast(rendered, "r@example.org", None)
    lines = subject_lines(data)
    for part in lines:  # short, or one word too long to fold
        assert len(part) <= 78 or b" " not in part.removeprefix(b"Subject: ").strip(), lines
    assert b"".join(lines) == f"Subject: {subject}".encode()
    assert parse(data)["Subject"] == subject
    agrees_with_slow(data, rendered)


@given(
    st.lists(
        st.sampled_from(["=?", "?=", "?q?", "?B?", "x", "us-ascii", "=41", "=4", "_", "?", "="]),
        min_size=1,
        max_size=12,
    ).map("".join),
    st.sampled_from(["", "a ", "a", " b", "b"]),
)
@example("=?x?q?=41", "Quiz: ")
def test_text_the_encoded_word_check_lets_through_reads_back_as_written(
    word: str, around: str
) -> None:
    """What _ENCODED_WORD does not match, the email package does not decode."""
    value = f"{around}{word}{around[::-1]}".strip() or "x"
    if _ENCODED_WORD.search(value) is None:
        message = parse(f"Subject: {value}\r\n\r\nx\r\n".encode())
        assert message["Subject"] == value


@pytest.mark.parametrize(
    "subject",
    [
        "Read =?utf-8?q?caf=C3=A9?= today",
        "ab=?utf-8?q?x?=cd and more",
        " ".join(["=?us-ascii?q?long?="] * 12),
        "Quiz: =?x?q?=41",  # no closing "?=", and still decoded
        "New prices =?us-ascii?Q?=24100 for all",
    ],
)
def test_subjects_spelling_an_encoded_word_are_written_as_the_policy_writes_them(
    subject: str,
) -> None:
    """Text a reader would decode as RFC 2047 is left to the email package, both paths alike."""
    rendered = RenderedIssue(subject=subject, preheader="", html="<p>x</p>", text="x")
    ours = fast(rendered, "r@example.org", None)
    theirs = slow(rendered, "r@example.org", None)
    assert subject_lines(ours) == subject_lines(theirs)
    assert meaning(ours) == meaning(theirs)


@given(st.lists(st.text(alphabet=st.sampled_from(list(" \t=.aZé€\x00\x0c\r")), max_size=120)))
def test_lines_encode_the_same_together_as_one_by_one(lines: list[str]) -> None:
    """The factory encodes runs of lines in one call; QP must give the same bytes per line."""
    assert _qp_lines(lines) == b"".join(_qp_line(line) for line in lines)


def test_personal_line_amid_long_static_runs_is_filled() -> None:
    text = "\n".join([*(f"static line {n} = {'x' * n}" for n in range(90)), f"to {EMAIL}", "end"])
    rendered = RenderedIssue(subject="S", preheader="P", html="<p>hi</p>\n", text=text + "\n")
    message = parse(fast(rendered, "ann@example.org", None))
    body = next(message.iter_parts()).get_content()
    assert "to ann@example.org\n" in body.replace("\r\n", "\n")
    assert f"static line 89 = {'x' * 89}" in body
    assert meaning(fast(rendered, "ann@example.org", None)) == meaning(
        slow(rendered, "ann@example.org", None)
    )


@pytest.mark.parametrize(
    "recipients",
    [[], ["ann@example.org"], ["Zoë <zoe@exämple.org>"], ["ann@example.org", "bob@example.org"]],
)
def test_outbox_copy_means_what_the_standard_library_message_means(
    tmp_path: Path, recipients: list[str]
) -> None:
    """The outbox .eml: to its sole reader, else to nobody in particular; never a list."""
    (tmp_path / "digest.yaml").write_text(
        json.dumps(
            {
                "title": "Weekly",
                "sender": SENDER,
                "recipients": recipients,
                "unsubscribe": "https://example.org/u?e={email}",
            }
        ),
        encoding="utf-8",
    )
    config = load_config(tmp_path / "digest.yaml")
    sole = recipients[0] if len(recipients) == 1 else None
    rendered = personalize(
        RenderedIssue(subject="S", preheader="P", html=f"<p>{EMAIL}</p>\n", text=f"{EMAIL}\n"),
        sole,
    )
    fast_bytes = outbox_message(config, rendered, "<1.digest@example.org>", WHEN)
    slow_message = compose(
        rendered,
        sender=SENDER,
        recipients=recipients,
        date=WHEN,
        message_id="<1.digest@example.org>",
        unsubscribe=fill_text("https://example.org/u?e=" + EMAIL_QUOTED, sole),
        list_name=list_id("Weekly", SENDER),
    )
    slow_bytes = to_bytes(slow_message, utf8=sole is not None and not sole.isascii())
    assert meaning(fast_bytes) == meaning(slow_bytes)
    to = parse(fast_bytes)["To"]
    if len(recipients) > 1:
        assert str(to) == "undisclosed-recipients:;"
        assert "example.org" not in str(to)
