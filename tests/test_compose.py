"""The message: MIME structure, headers a mail provider expects, and safe header values."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from newsletter_digest.compose import compose, list_id, new_message_id, to_bytes
from newsletter_digest.errors import ComposeError
from newsletter_digest.models import RenderedIssue

WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def rendered(subject: str = "Weekly #1: Hello", html: str = "<p>Hi</p>") -> RenderedIssue:
    return RenderedIssue(subject=subject, preheader="pre", html=html, text="Hi there\n")


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def build(**kwargs: object) -> bytes:
    args: dict[str, object] = {
        "sender": "Weekly <news@example.org>",
        "recipients": ["ann@example.org"],
        "date": WHEN,
        "message_id": "<1@example.org>",
        "unsubscribe": "https://example.org/unsub",
    }
    args.update(kwargs)
    return to_bytes(compose(args.pop("rendered", rendered()), **args))  # type: ignore[arg-type]


def test_multipart_alternative_with_text_first() -> None:
    message = parse(build())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().replace("\r\n", "\n") == "Hi there\n"
    assert "<p>Hi</p>" in parts[1].get_content()


def test_headers_a_mail_provider_expects() -> None:
    message = parse(build(list_name=list_id("Weekly", "news@example.org")))
    assert message["From"] == "Weekly <news@example.org>"
    assert message["To"] == "ann@example.org"
    assert message["Subject"] == "Weekly #1: Hello"
    assert message["Message-ID"] == "<1@example.org>"
    assert message["Date"] == "Mon, 30 Nov 2026 09:00:00 +0000"
    assert message["List-Unsubscribe"] == "<https://example.org/unsub>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == '"Weekly" <weekly.example.org>'


def test_mailto_unsubscribe_has_no_one_click_post() -> None:
    message = parse(build(unsubscribe="mailto:news@example.org?subject=unsubscribe"))
    assert message["List-Unsubscribe"] == "<mailto:news@example.org?subject=unsubscribe>"
    assert message["List-Unsubscribe-Post"] is None


def test_several_recipients_are_not_shown_to_each_other() -> None:
    message = parse(build(recipients=["a@example.org", "b@example.org"]))
    assert "a@example.org" not in str(message["To"])
    assert "undisclosed-recipients" in str(message["To"])


def test_no_line_longer_than_998_octets_on_the_wire() -> None:
    long_html = "<p>" + "x" * 5000 + " " + "é" * 3000 + "</p>"
    data = build(rendered=rendered(html=long_html, subject="S " * 200))
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert b"\n" not in data.replace(b"\r\n", b"")
    html = parse(data).get_body(("html",))
    assert html is not None and "x" * 5000 in html.get_content()


def test_non_ascii_subject_and_display_name_round_trip() -> None:
    data = build(sender="Zoë Ünal <news@example.org>", rendered=rendered(subject="Café ☕ #1"))
    assert all(byte < 128 for byte in data.split(b"\r\n\r\n")[0])  # headers stay 7-bit
    message = parse(data)
    assert message["Subject"] == "Café ☕ #1"
    assert message["From"].addresses[0].display_name == "Zoë Ünal"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rendered": rendered(subject="Hi\r\nBcc: victim@example.org")},
        {"unsubscribe": "https://example.org/u\nBcc: x@example.org"},
        {"sender": "news@example.org\nBcc: x@example.org"},
    ],
)
def test_line_break_in_a_header_is_a_clear_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ComposeError) as info:
        build(**kwargs)
    assert "line break" in info.value.message
    assert info.value.hint


def test_message_id_is_unique_and_on_the_sender_domain() -> None:
    first = new_message_id("Weekly <news@example.org>", 3)
    second = new_message_id("Weekly <news@example.org>", 3)
    assert first != second
    assert first.startswith("<") and first.endswith("@example.org>")
