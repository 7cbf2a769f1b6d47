"""The message: MIME structure, headers a mail provider expects, and header text that can
never turn into headers of its own (encoded-word look-alikes, line breaks, controls)."""

from __future__ import annotations

import base64
import email
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from newsletter_digest.errors import ComposeError
from newsletter_digest.mail.compose import (
    UNDISCLOSED,
    MessageFactory,
    _qp_line,
    _qp_lines,
    list_id,
    new_message_id,
)
from newsletter_digest.mail.headers import clean_text, encode_mailbox, has_controls, line
from newsletter_digest.models import RenderedIssue
from newsletter_digest.render.personal import EMAIL, EMAIL_QUOTED, personalize

WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SENDER = "Zoë's Digest <news@example.org>"
INJECTION = "=?utf-8?q?Hi=0D=0ABcc=3A_evil@attacker.example?="
HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "list-id",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
}


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def phrase_of(data: bytes, name: str) -> str:
    """The display name in header ``name`` decoded by RFC 2047's rules (email.header).

    CPython 3.11's address parser puts a space between adjacent encoded words of a long
    name, which RFC 2047 says to drop; this reading is the exact one, and
    :func:`same_name` allows for the parser's extra spaces."""
    text = "\r\n" + data.split(b"\r\n\r\n")[0].decode("utf-8")
    start = text.index(f"\r\n{name}: ") + len(name) + 4
    end = text.find("\r\n", start)
    while text.startswith((" ", "\t"), end + 2):
        end = text.find("\r\n", end + 2)
    value = text[start:end].replace("\r\n", "").rpartition(" <")[0]
    if value.startswith('"'):
        return (
            parse(f"{name}: {value} <x@example.org>\r\n\r\n".encode())[name]
            .addresses[0]
            .display_name
        )
    return str(make_header(decode_header(value)))


def same_name(parsed: str, expected: str) -> bool:
    return parsed == expected or parsed.replace(" ", "") == expected.replace(" ", "")


def rendered(subject: str = "Weekly #1: Hello", html: str = "<p>Hi</p>") -> RenderedIssue:
    return RenderedIssue(subject=subject, preheader="pre", html=html, text="Hi there\n")


def message(
    issue: RenderedIssue | None = None,
    recipient: str | None = "ann@example.org",
    *,
    sender: str = "Weekly <news@example.org>",
    unsubscribe: str | None = "https://example.org/unsub",
    title: str = "Weekly",
    to: str | None = None,
) -> bytes:
    factory = MessageFactory(
        issue or rendered(),
        sender=sender,
        date=WHEN,
        unsubscribe=unsubscribe,
        list_name=list_id(title, sender),
    )
    return factory.message(recipient, "<1.digest@example.org>", to=to)


def parts(data: bytes) -> list[tuple[str, str]]:
    """Each part's type and decoded text, line ends normalised."""
    return [
        (part.get_content_type(), part.get_content().replace("\r\n", "\n"))
        for part in parse(data).iter_parts()
    ]


def reference_parts(issue: RenderedIssue) -> list[tuple[str, str]]:
    """The same bodies as the standard library's own MIME code writes and reads them."""
    msg = EmailMessage(policy=policy.SMTP)
    msg.set_content(issue.text, subtype="plain", charset="utf-8")
    msg.add_alternative(issue.html, subtype="html", charset="utf-8")
    return parts(msg.as_bytes())


def test_multipart_alternative_with_text_first() -> None:
    msg = parse(message())
    assert msg.get_content_type() == "multipart/alternative"
    assert parts(message()) == [("text/plain", "Hi there\n"), ("text/html", "<p>Hi</p>\n")]


def test_headers_a_mail_provider_expects() -> None:
    msg = parse(message())
    assert msg["From"] == "Weekly <news@example.org>"
    assert msg["To"] == "ann@example.org"
    assert msg["Subject"] == "Weekly #1: Hello"
    assert msg["Message-ID"] == "<1.digest@example.org>"
    assert msg["Date"] == "Mon, 30 Nov 2026 09:00:00 +0000"
    assert msg["List-Unsubscribe"] == "<https://example.org/unsub>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Id"] == "Weekly <weekly.example.org>"
    assert msg["MIME-Version"] == "1.0"


def test_mailto_unsubscribe_has_no_one_click_post() -> None:
    msg = parse(message(unsubscribe="mailto:news@example.org?subject=unsubscribe"))
    assert msg["List-Unsubscribe"] == "<mailto:news@example.org?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None


def test_several_recipients_are_not_shown_to_each_other() -> None:
    msg = parse(message(recipient=None, to=UNDISCLOSED))
    assert str(msg["To"]) == "undisclosed-recipients:;"
    assert msg["To"].addresses == ()


ISSUE = RenderedIssue(
    subject="Digest #3: Café, crème & ☕",
    preheader="pre",
    html="<html><body><p>Hello &amp; welcome</p>" + "<p>x</p>" * 3000 + "</body></html>",
    text="Hello & welcome\n\n1. Café\n" + "long line " * 200 + "\n.dot at start\n",
)
LONG = RenderedIssue(
    "Long lines",
    "p",
    "<p>" + "é" * 300 + "</p>\n<a href='u?e=" + EMAIL_QUOTED + "'>x</a>\n \n" * 3,
    "line one \nfor " + EMAIL + " = you\n\n" + "ü " * 200 + "\n",
)


@pytest.mark.parametrize("issue", [ISSUE, LONG, rendered(html="<p>" + "x" * 5000 + "</p>")])
def test_bodies_mean_what_the_standard_library_writes(issue: RenderedIssue) -> None:
    data = message(issue, recipient=None, to=UNDISCLOSED)
    assert parts(data) == reference_parts(personalize(issue, None))


def test_every_line_is_7bit_crlf_and_at_most_78_octets() -> None:
    data = message(ISSUE, "Jörg Müller <joerg@exämple.org>", sender=SENDER, title="Zoë's")
    assert all(byte < 128 for byte in data)
    assert max(len(part) for part in data.split(b"\r\n")) <= 78
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_non_ascii_names_and_domains_round_trip_in_7bit_headers() -> None:
    data = message(rendered(subject="Café ☕ #1"), "José Müller <j@exämple.org>", sender=SENDER)
    msg = parse(data)
    assert msg["Subject"] == "Café ☕ #1"
    assert msg["From"].addresses[0].display_name == "Zoë's Digest"
    to = msg["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == ("José Müller", "j@xn--exmple-cua.org")


def test_a_non_ascii_user_name_needs_utf8_headers() -> None:
    data = message(recipient="zoë@example.org")
    head = data.split(b"\r\n\r\n")[0]
    assert "To: zoë@example.org".encode() in head
    msg = email.message_from_string(data.decode("utf-8"), policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "zoë@example.org"


def test_personal_fields_are_filled_per_recipient() -> None:
    personal = RenderedIssue(
        subject=f"For {EMAIL}",
        preheader="pre",
        html=f'<a href="https://example.org/u?e={EMAIL_QUOTED}">unsubscribe {EMAIL}</a>',
        text=f"Unsubscribe {EMAIL}: https://example.org/u?e={EMAIL_QUOTED}\n",
    )
    factory = MessageFactory(
        personal, sender=SENDER, date=WHEN, unsubscribe=f"https://example.org/u?e={EMAIL_QUOTED}"
    )
    first = parse(factory.message("a+b@example.org", "<1@example.org>"))
    second = parse(factory.message("c@example.org", "<2@example.org>"))
    assert first["Subject"] == "For a+b@example.org"
    assert first["List-Unsubscribe"] == "<https://example.org/u?e=a%2Bb@example.org>"
    assert second["To"] == "c@example.org"
    html = second.get_body(("html",))
    assert html is not None and "e=c@example.org" in html.get_content()
    assert "x-digest-recipient" not in first.as_string() + second.as_string()


def test_personal_line_amid_long_static_runs_is_filled() -> None:
    text = "\n".join([*(f"static line {n} = {'x' * n}" for n in range(90)), f"to {EMAIL}", "end"])
    issue = RenderedIssue(subject="S", preheader="P", html="<p>hi</p>\n", text=text + "\n")
    body = parts(message(issue))[0][1]
    assert "to ann@example.org\n" in body
    assert f"static line 89 = {'x' * 89}" in body


@given(st.lists(st.text(alphabet=st.sampled_from(list(" \t=.aZé€\x00\x0c\r")), max_size=120)))
def test_lines_encode_the_same_together_as_one_by_one(lines: list[str]) -> None:
    """The factory encodes runs of lines in one call; QP must give the same bytes per line."""
    assert _qp_lines(lines) == b"".join(_qp_line(text) for text in lines)


def test_message_id_is_unique_and_on_the_sender_domain() -> None:
    first = new_message_id("Weekly <news@example.org>", 3)
    second = new_message_id("Weekly <news@example.org>", 3)
    assert first != second
    assert first.startswith("<") and first.endswith("@example.org>")


# --- Hostile header text ------------------------------------------------------------------


def test_an_encoded_line_break_in_the_subject_stays_text() -> None:
    """The reported hole: a title that decodes to CR LF must not forge a Bcc."""
    data = message(rendered(subject=INJECTION))
    msg = parse(data)
    assert msg["Bcc"] is None
    assert b"\r\nBcc:" not in data
    assert msg["Subject"] == INJECTION  # the reader sees the characters as written


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender", f'"{INJECTION}" <news@example.org>'),
        ("recipient", f'"{INJECTION}" <ann@example.org>'),
        ("title", INJECTION),
    ],
)
def test_encoded_look_alikes_in_names_stay_text(field: str, value: str) -> None:
    kwargs: dict[str, str] = {field: value}
    data = message(**kwargs)  # type: ignore[arg-type]
    msg = parse(data)
    assert set(map(str.lower, msg.keys())) == HEADERS
    header = {"sender": "From", "recipient": "To", "title": "List-Id"}[field]
    assert phrase_of(data, header) == INJECTION
    if field != "title":
        assert same_name(msg[header].addresses[0].display_name, INJECTION)


@pytest.mark.parametrize("field", ["sender", "recipient"])
def test_an_unquoted_look_alike_with_an_at_sign_is_no_address(field: str) -> None:
    """parseaddr would read the look-alike as the address: refused, never written."""
    with pytest.raises(ComposeError) as info:
        message(**{field: f"{INJECTION} <x@example.org>"})  # type: ignore[arg-type]
    assert "is not an address" in info.value.message
    assert len(info.value.message) < 200


@pytest.mark.parametrize(
    "value",
    ["Hi\r\nBcc: victim@example.org", "Hi\nBcc: x", "Hi\rX", "Hi\x85X", "Hi\u2028X", "Hi\x00X"],
)
def test_line_breaks_and_controls_in_the_subject_are_removed(value: str) -> None:
    msg = parse(message(rendered(subject=value)))
    assert msg["Subject"] == clean_text(value)
    assert not has_controls(msg["Subject"])
    assert set(map(str.lower, msg.keys())) == HEADERS


@pytest.mark.parametrize(
    "kwargs",
    [
        {"unsubscribe": "https://example.org/u\nBcc: x@example.org"},
        {"sender": "news@example.org\nBcc: x@example.org"},
        {"recipient": "Ann\r\nBcc: x@example.org <ann@example.org>"},
    ],
)
def test_line_break_in_an_address_or_url_is_a_clear_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ComposeError) as info:
        message(**kwargs)  # type: ignore[arg-type]
    assert "line break" in info.value.message
    assert info.value.hint


def test_the_last_guard_refuses_a_bare_line_break_whatever_made_it() -> None:
    with pytest.raises(ComposeError):
        line("Subject", "a\r\nBcc: x@example.org")
    assert line("Subject", "a\r\n b") == b"Subject: a\r\n b\r\n"  # a fold is fine


def encoded_word(text: str, charset: str, encoding: str) -> str:
    raw = text.encode(charset, "replace")
    if encoding in "bB":
        payload = base64.b64encode(raw).decode()
    else:
        payload = "".join(f"={byte:02X}" if not chr(byte).isalnum() else chr(byte) for byte in raw)
    return f"=?{charset}?{encoding}?{payload}?="


TRAPS = ["\r\n", "\n", "\r", "\x85", "\u2028", "\u2029", "\x00", "\x1b", "\t", "\x0b", "\x9f"]
PIECES = st.one_of(
    st.text(max_size=30),
    st.sampled_from([*TRAPS, "Bcc: evil@attacker.example", "=?", "?=", "?q?", " ", '"', "<", ">"]),
    st.builds(
        encoded_word,
        st.one_of(st.text(max_size=20), st.sampled_from(["\r\nBcc: evil@attacker.example"])),
        st.sampled_from(["utf-8", "iso-8859-1", "us-ascii", "UTF-8", "windows-1252"]),
        st.sampled_from(["q", "Q", "b", "B"]),
    ),
)
HOSTILE = st.lists(PIECES, max_size=6).map("".join)


@given(subject=HOSTILE, title=HOSTILE, sender_name=HOSTILE, reader_name=HOSTILE)
@example(subject=INJECTION, title=INJECTION, sender_name=INJECTION, reader_name=INJECTION)
@example(subject="x\u2028Bcc: e@x.org", title="T\r\nX: y", sender_name="", reader_name="é" * 90)
def test_no_text_becomes_a_header_of_its_own(
    subject: str, title: str, sender_name: str, reader_name: str
) -> None:
    """Whatever text reaches a header, the message reads back with exactly the intended
    headers, the intended sender and reader, and the cleaned text, in 7-bit lines."""
    sender = f'"{quote(sender_name)}" <news@example.org>'
    reader = f'"{quote(reader_name)}" <ann@example.org>'
    try:
        data = message(rendered(subject=subject), reader, sender=sender, title=title)
    except ComposeError as e:
        # Refused only where a name (which parseaddr reads into the address) holds a control.
        assert has_controls(sender_name) or has_controls(reader_name), e.message
        return
    msg = parse(data)
    head = data.split(b"\r\n\r\n")[0]
    assert all(byte < 128 for byte in head)
    assert all(len(part) <= 998 for part in data.split(b"\r\n"))
    assert set(map(str.lower, msg.keys())) == HEADERS
    assert msg["Subject"] == clean_text(subject)
    (frm,) = msg["From"].addresses
    (to,) = msg["To"].addresses
    assert (frm.addr_spec, to.addr_spec) == ("news@example.org", "ann@example.org")
    assert phrase_of(data, "From") == clean_text(sender_name)
    assert phrase_of(data, "To") == clean_text(reader_name)
    assert same_name(frm.display_name, clean_text(sender_name))
    assert same_name(to.display_name, clean_text(reader_name))
    assert msg["List-Id"].endswith(".example.org>")
    assert msg.defects == []


@given(name=HOSTILE)
def test_any_display_name_survives_a_round_trip(name: str) -> None:
    data = b"X: y\r\n" + line("To", encode_mailbox(name, "ann@example.org")) + b"\r\nx\r\n"
    (to,) = parse(data)["To"].addresses
    assert to.addr_spec == "ann@example.org"
    if clean_text(name):
        assert phrase_of(data, "To") == clean_text(name)
    assert same_name(to.display_name, clean_text(name))
