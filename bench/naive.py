"""The baseline the message benchmarks compare against: a fresh standard-library
``EmailMessage`` per recipient, whole bodies set and serialised each time.

Only for trusted benchmark input: the email policy decodes encoded-word look-alikes in the
values it is given, which is why the digest itself builds headers in ``headers.py``.
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from newsletter_digest.models import RenderedIssue

WIRE = policy.SMTP.clone(max_line_length=78)


def naive_message(
    rendered: RenderedIssue,
    *,
    sender: str,
    recipient: str,
    date: datetime,
    message_id: str,
    unsubscribe: str | None,
) -> bytes:
    msg = EmailMessage(policy=WIRE)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        if unsubscribe.startswith("https://"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["MIME-Version"] = "1.0"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg.as_bytes()
