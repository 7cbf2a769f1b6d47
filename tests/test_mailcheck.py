"""The preview's checks panel: each check on messages made to pass or fail it."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from newsletter_digest.mail import compose, mailcheck
from newsletter_digest.models import RenderedIssue

PREHEADER = "Three short reads about databases, caching and the cost of clean code"
GOOD_HTML = (
    "<!doctype html><html><head><title>x</title></head><body>"
    f'<div style="display: none; max-height: 0px">{PREHEADER}&#847;&zwnj;&nbsp;&#847;</div>'
    '<p><a href="https://example.org/a">A</a> <a href="mailto:x@example.org">mail</a></p>'
    '<img src="https://example.org/i.png" alt="A chart">'
    "</body></html>"
)


def message(
    html: str | None = GOOD_HTML,
    text: str | None = "Hello\nworld\n",
    subject: str = "Digest #1: short",
    unsubscribe: str | None = "https://example.org/unsubscribe",
) -> bytes:
    """A message like compose makes it, with parts and headers left out on demand."""
    rendered = RenderedIssue(subject=subject, preheader="", html=html or "", text=text or "")
    factory = compose.MessageFactory(
        rendered,
        sender="News <news@example.org>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
        unsubscribe=unsubscribe,
    )
    data = factory.message("reader@example.org", "<1@example.org>")
    if html is None or text is None:
        msg = email.message_from_bytes(data, policy=policy.SMTP)
        assert isinstance(msg, EmailMessage)
        keep = "text/plain" if html is None else "text/html"
        part = next(p for p in msg.iter_parts() if p.get_content_type() == keep)
        content = part.get_content()
        msg.clear_content()
        msg.set_content(content, subtype=keep.split("/")[1], charset="utf-8")
        data = msg.as_bytes()
    return data


def statuses(eml: bytes) -> dict[str, str]:
    return {check.name: check.status for check in mailcheck.run_checks(mailcheck.parse(eml))}


def test_a_good_message_passes_every_check() -> None:
    checks = mailcheck.run_checks(mailcheck.parse(message()))
    assert [c.status for c in checks] == ["ok"] * 7, checks
    assert [c.name for c in checks] == [
        "HTML size",
        "Preheader",
        "Plain-text part",
        "List-Unsubscribe",
        "Links",
        "Image alt text",
        "Subject length",
    ]


def test_parse_reads_the_parts_the_preheader_and_the_headers() -> None:
    parsed = mailcheck.parse(message())
    assert parsed.preheader == PREHEADER
    assert parsed.text == "Hello\nworld\n"
    assert parsed.html is not None and "\r" not in parsed.html
    assert parsed.header("From") == "News <news@example.org>"
    assert parsed.links == ("https://example.org/a", "mailto:x@example.org")
    assert parsed.images == (("https://example.org/i.png", "A chart"),)


def test_html_over_gmails_clipping_limit_fails_and_near_it_warns() -> None:
    big = GOOD_HTML.replace("</body>", "<p>" + "x" * 110_000 + "</p></body>")
    near = GOOD_HTML.replace("</body>", "<p>" + "x" * 90_000 + "</p></body>")
    assert statuses(message(html=big))["HTML size"] == "fail"
    assert statuses(message(html=near))["HTML size"] == "warn"


@pytest.mark.parametrize(
    ("hidden", "status"),
    [
        (None, "fail"),
        ("Too short", "warn"),
        ("y" * 200, "warn"),
        (PREHEADER, "ok"),
    ],
)
def test_preheader_must_exist_and_have_a_length_inboxes_show(
    hidden: str | None, status: str
) -> None:
    html = "<html><body><p>Visible first</p></body></html>"
    if hidden is not None:
        html = f'<html><body><div style="display:none">{hidden}<br></div><p>x</p></body></html>'
    assert statuses(message(html=html))["Preheader"] == status


def test_missing_or_empty_text_part_fails() -> None:
    assert statuses(message(text=None))["Plain-text part"] == "fail"
    assert statuses(message(text="  \n"))["Plain-text part"] == "fail"


def test_missing_list_unsubscribe_fails() -> None:
    assert statuses(message(unsubscribe=None))["List-Unsubscribe"] == "fail"
    assert statuses(message(unsubscribe="mailto:u@example.org"))["List-Unsubscribe"] == "ok"


@pytest.mark.parametrize(
    "href", ["javascript:alert(1)", "/relative", "ftp://example.org/f", "data:text/html,x", ""]
)
def test_a_link_that_is_not_http_or_mailto_fails(href: str) -> None:
    html = GOOD_HTML.replace('href="https://example.org/a"', f'href="{href}"')
    check = mailcheck.links(mailcheck.parse(message(html=html)))
    assert check.status == "fail"
    assert "1 not http(s) or mailto" in check.detail


def test_images_without_alt_text_warn_and_are_named() -> None:
    html = GOOD_HTML.replace('alt="A chart"', 'alt=" "') + '<img src="https://e.org/2.png">'
    check = mailcheck.images(mailcheck.parse(message(html=html)))
    assert check.status == "warn"
    assert "2 of 2 images" in check.detail and "https://e.org/2.png" in check.detail


def test_a_long_subject_warns() -> None:
    assert statuses(message(subject="x" * 61))["Subject length"] == "warn"
    assert statuses(message(subject="x" * 60))["Subject length"] == "ok"
