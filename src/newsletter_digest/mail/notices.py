"""Messages to one reader that are not an issue: the subscription confirmation, the welcome.

A confirmation goes to whoever typed an address into the subscribe form, from the
newsletter's own domain: it carries nothing else they typed (their name is not in the To
header), so a stranger cannot make our mail say what they like.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import escape

from newsletter_digest.mail.compose import MessageFactory, new_message_id
from newsletter_digest.mail.headers import split_mailbox
from newsletter_digest.models import RenderedIssue
from newsletter_digest.render.markdown import render as render_markdown


def confirmation(
    title: str, sender: str, reader: str, link: str, now: datetime
) -> tuple[bytes, str]:
    """The double opt-in email to ``reader`` (its address alone, whatever name it holds):
    one link that confirms. The message and its Message-ID."""
    text = (
        f"Someone, hopefully you, asked to get {title} at this address.\n\n"
        f"To confirm, open this link:\n{link}\n\n"
        "If it was not you, ignore this message: nothing will be sent to you.\n"
    )
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Confirm'
        f"</title></head><body><p>Someone, hopefully you, asked to get {escape(title)} at this"
        f' address.</p><p><a href="{escape(link)}">Confirm the subscription</a></p>'
        "<p>If it was not you, ignore this message: nothing will be sent to you.</p>"
        "</body></html>\n"
    )
    subject = f"Confirm your subscription to {title}"
    factory = MessageFactory(
        RenderedIssue(subject=subject, preheader="", html=html, text=text),
        sender=sender,
        date=now,
        unsubscribe=None,
    )
    message_id = new_message_id(sender, 0)
    _, address = split_mailbox(reader)
    return factory.message(address, message_id), message_id


def welcome_parts(title: str, markdown: str, latest: str | None) -> tuple[str, str, str]:
    """Subject, text and HTML of a welcome: the file's first ``# `` line is the subject
    (else "Welcome to TITLE"), the rest is Markdown, rendered as an issue's text is; the
    latest issue's web link is added below it."""
    lines = markdown.strip("\n").splitlines()
    subject = f"Welcome to {title}"
    if lines and lines[0].startswith("# "):
        subject, lines = lines[0][2:].strip() or subject, lines[1:]
    if latest:
        lines += ["", f"The latest issue: [{latest}]({latest})"]
    body = render_markdown("\n".join(lines).strip("\n") + "\n")
    html = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(subject)}'
        f"</title></head><body>{body.html}</body></html>\n"
    )
    return " ".join(subject.split()), body.text + "\n", html


def welcome(
    title: str,
    sender: str,
    reader: str,
    markdown: str,
    *,
    latest: str | None,
    unsubscribe: tuple[str, ...],
    token: str,
    now: datetime,
    message_id: str,
) -> bytes:
    """The welcome email to a reader who just confirmed."""
    subject, text, html = welcome_parts(title, markdown, latest)
    factory = MessageFactory(
        RenderedIssue(subject=subject, preheader="", html=html, text=text),
        sender=sender,
        date=now,
        unsubscribe=unsubscribe,
    )
    return factory.message(reader, message_id, token=token)
