"""What a returned message is, read from its bytes alone (pure: no state, no clock).

- a delivery status notification (RFC 3464 ``multipart/report; report-type=delivery-status``,
  or the non-standard bounce formats of common servers, which flufl.bounce reads);
- a complaint (ARF, RFC 5965 ``report-type=feedback-report``);
- an unsubscribe request sent to the newsletter's mailto address;
- anything else, which is left alone.
The finding carries only evidence that points back at a delivery we made: the VERP token
of the envelope the bounce came to, or the Message-ID of the original message. Addresses
guessed from free text are never enough on their own.
"""

from __future__ import annotations

import codecs
import email
import re
from email import policy
from email.feedparser import BytesFeedParser
from email.message import Message
from typing import NamedTuple

from flufl.bounce import all_failures

MAX_BYTES = 10 * 1024 * 1024  # a returned message past this is not read at all
MAX_PARTS = 200  # a multipart bomb is cut off here, while it is parsed
MAX_DEPTH = 20  # MIME parts nested deeper than this: the parse stops there
MAX_LINES = 200_000  # a 10 MiB message of 76-character lines has 140,000
MAX_SCAN_CHARS = 64 * 1024  # the text of all parts together that flufl.bounce scans...
MAX_SCAN_LINES = 1_000  # ...and its lines (its detectors take about 0.3 ms a line)
_FEED_BYTES = 64 * 1024  # the parser is fed this much at a time
_VERP = re.compile(r"\+([0-9a-f]{16})@", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"^message-id:\s*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE)
_TOKEN = re.compile(r"/unsubscribe/([A-Za-z0-9_\-.]{8,200})")
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_ENVELOPE_HEADERS = ("to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to")


class Finding(NamedTuple):
    """What a message is, and the evidence it carries."""

    kind: str  # bounce | complaint | unsubscribe | other
    permanent: bool = False  # a bounce: failed for good (5.x.x), else delayed (4.x.x)
    message_ids: tuple[str, ...] = ()  # of the original message we sent
    verp: tuple[str, ...] = ()  # delivery tokens from the VERP envelope sender
    recipients: tuple[str, ...] = ()  # who failed, as the report says (corroboration only)
    tokens: tuple[str, ...] = ()  # unsubscribe tokens quoted in the message
    sender: str = ""  # From, for a request to unsubscribe
    authenticated: bool = False  # the receiving server says DKIM or SPF passed for From
    status: str = ""  # the enhanced status code, or the feedback type
    reason: str = ""  # why, in words, for the log and the reader's row
    unread: bool = False  # past a bound (size, depth, parts): not read, and never again


class _BoundError(Exception):
    """The message passed one of the bounds while being parsed."""


class _Part(Message):
    """A MIME part that counts, as the parser attaches it, the parts and the depth so far:
    a bomb is stopped at the part past the bound, not after the whole tree was built."""

    def __init__(self, count: list[int], policy: policy.Policy = policy.compat32) -> None:
        super().__init__(policy)
        self.count = count  # shared by every part of one message: [parts so far]
        self.depth = 0

    def attach(self, payload: Message) -> None:  # type: ignore[override]
        if isinstance(payload, _Part):
            payload.depth = self.depth + 1
            self.count[0] += 1
            if self.count[0] > MAX_PARTS:
                raise _BoundError(f"too many parts: more than {MAX_PARTS} MIME parts, not read")
            if payload.depth > MAX_DEPTH:
                raise _BoundError(f"too deep: MIME parts nested over {MAX_DEPTH} levels, not read")
        super().attach(payload)


def classify(raw: bytes, authserv_id: str | None = None) -> Finding:
    """Read one message; never raises on bad input (a bad message is 'other', with why).

    ``authserv_id`` names the user's own receiving server: only Authentication-Results it
    wrote are trusted (anyone can write the header into a message they send).
    """
    try:
        return _classify(raw, authserv_id)
    except Exception as e:  # any parser or detector on hostile input: report, never crash
        return Finding("other", reason=f"cannot be read: {type(e).__name__}")


def _classify(raw: bytes, authserv_id: str | None) -> Finding:
    if len(raw) > MAX_BYTES:
        why = f"too large: larger than {MAX_BYTES // 2**20} MiB, not read"
        return Finding("other", reason=why, unread=True)
    if raw.count(b"\n") > MAX_LINES:  # the parser keeps every line of a part in a list
        why = f"too large: more than {MAX_LINES:,} lines, not read"
        return Finding("other", reason=why, unread=True)
    try:
        message = _parse(raw)
    except _BoundError as bound:
        return Finding("other", reason=str(bound), unread=True)
    except Exception as e:  # the email parser on hostile input: report, never crash
        return Finding("other", reason=f"cannot be parsed: {type(e).__name__}")
    parts = list(message.walk())
    report = message.get_param("report-type", header="content-type") or ""
    if message.get_content_type() == "multipart/report" and str(report).lower() == (
        "feedback-report"
    ):
        return _complaint(message, parts)
    if message.get_content_type() == "multipart/report" and str(report).lower() == (
        "delivery-status"
    ):
        return _dsn(message, parts)
    bounce = _nonstandard_bounce(message, parts)
    if bounce is not None:
        return bounce
    return _request(message, parts, authserv_id)


def _parse(raw: bytes) -> Message:
    """The message, parsed by the email package's feed parser fed a piece at a time;
    raises _BoundError as soon as a part passes MAX_PARTS or MAX_DEPTH."""
    count = [1]

    def factory(policy: policy.Policy = policy.compat32) -> Message:
        return _Part(count, policy)

    parser = BytesFeedParser(_factory=factory, policy=policy.compat32)
    count[0] = 1  # the parser made one message to try the factory
    for start in range(0, len(raw), _FEED_BYTES):
        parser.feed(raw[start : start + _FEED_BYTES])
    return parser.close()


def _cap_text(parts: list[Message]) -> list[tuple[Message, str]]:
    """Cut the parts' text to MAX_SCAN_CHARS and MAX_SCAN_LINES in all, in place, for
    flufl.bounce, which scans every line of every part (a server's bounce says what it
    has to say on its first page); returns what to put back."""
    chars, lines = MAX_SCAN_CHARS, MAX_SCAN_LINES
    whole: list[tuple[Message, str]] = []
    for part in parts:
        payload = part.get_payload()
        if not isinstance(payload, str):
            continue
        kept = "".join(payload[:chars].splitlines(keepends=True)[:lines])
        whole.append((part, payload))
        part.set_payload(kept)
        chars, lines = chars - len(kept), lines - kept.count("\n")
    return whole


def _text(part: Message, limit: int = 200_000) -> str:
    """A part's text; a charset Python does not know (or a mangled name) reads as UTF-8."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except (LookupError, ValueError, TypeError):
        charset = "utf-8"
    return payload[:limit].decode(charset, "replace")


def _originals(message: Message, parts: list[Message]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Message-IDs and VERP tokens that point at the message we sent: in the included
    original (headers or whole message), and the envelope address the report came to."""
    ids: list[str] = []
    verp: list[str] = []
    for name in _ENVELOPE_HEADERS:
        for value in message.get_all(name) or []:
            verp += _VERP.findall(str(value))
    for part in parts:
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global") and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message):
                if inner.get("message-id"):
                    ids.append(str(inner["message-id"]).strip())
                verp += _VERP.findall(str(inner.get("return-path", "")))
        elif kind in ("text/rfc822-headers", "text/plain"):
            text = _text(part)
            if kind == "text/rfc822-headers" or "message-id:" in text.lower():
                ids += _MESSAGE_ID.findall(text)
                verp += _VERP.findall("\n".join(re.findall(r"(?im)^return-path:.*$", text)))
    return tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(token.lower() for token in verp))


def _dsn(message: Message, parts: list[Message]) -> Finding:
    """RFC 3464: per-recipient Action and Status in the message/delivery-status part."""
    ids, verp = _originals(message, parts)
    recipients: list[str] = []
    statuses: list[str] = []
    actions: list[str] = []
    diagnostics: list[str] = []
    for part in parts:
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks[1:] if isinstance(blocks, list) else []:
            if not isinstance(block, Message):
                continue
            action = str(block.get("action", "")).strip().lower()
            recipient = str(block.get("final-recipient") or block.get("original-recipient") or "")
            recipients.append(recipient.split(";", 1)[-1].strip().strip("<>").lower())
            actions.append(action)
            found = _STATUS.search(str(block.get("status", "")))
            statuses.append(found.group(1) if found else "")
            diagnostics.append(" ".join(str(block.get("diagnostic-code", "")).split())[:300])
    failed = [i for i, action in enumerate(actions) if action in ("failed", "delayed")]
    if not failed:
        return Finding("other", reason="a delivery report with no failure in it")
    first = failed[0]
    permanent = actions[first] == "failed" and statuses[first].startswith("5")
    reason = diagnostics[first] or f"{actions[first]} {statuses[first]}".strip()
    return Finding(
        "bounce",
        permanent=permanent,
        message_ids=ids,
        verp=verp,
        recipients=tuple(recipients[i] for i in failed),
        status=statuses[first],
        reason=reason,
    )


def _nonstandard_bounce(message: Message, parts: list[Message]) -> Finding | None:
    """A bounce in a server's own format (Exim, qmail, older Exchange...), via flufl.bounce."""
    whole = _cap_text(parts)
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # flufl.bounce's detectors on hostile input
        return None
    finally:  # the other readers see each part whole (they cut it as they need)
        for part, payload in whole:
            part.set_payload(payload)
    if not temporary and not permanent:
        return None
    ids, verp = _originals(message, parts)
    failed = sorted(a.decode("utf-8", "replace").lower() for a in (permanent or temporary))
    body = " ".join(_text(p)[:2000] for p in parts if p.get_content_type() == "text/plain")
    found = _STATUS.search(body)
    return Finding(
        "bounce",
        permanent=bool(permanent),
        message_ids=ids,
        verp=verp,
        recipients=tuple(failed),
        status=found.group(1) if found else ("5.0.0" if permanent else "4.0.0"),
        reason=" ".join(body.split())[:300] or "bounce",
    )


def _complaint(message: Message, parts: list[Message]) -> Finding:
    """ARF (RFC 5965): a feedback report about the original message, which it includes."""
    ids, verp = _originals(message, parts)
    feedback = ""
    for part in parts:
        if part.get_content_type() == "message/feedback-report":
            blocks = part.get_payload()
            fields = blocks[0] if isinstance(blocks, list) and blocks else None
            if isinstance(fields, Message):
                feedback = str(fields.get("feedback-type", "")).strip().lower()
    if feedback == "not-spam":
        return Finding("other", reason="a feedback report that it is not spam")
    return Finding(
        "complaint",
        message_ids=ids,
        verp=verp,
        status=feedback or "abuse",
        reason=f"complaint ({feedback or 'abuse'}) from {message.get('from', 'a feedback loop')}",
    )


def _request(message: Message, parts: list[Message], authserv_id: str | None) -> Finding:
    """A message to the unsubscribe address: a token in it, or a subject that asks."""
    subject = str(message.get("subject", ""))
    texts = [subject] + [_text(p, 20_000) for p in parts if p.get_content_maintype() == "text"]
    tokens = tuple(dict.fromkeys(t for text in texts for t in _TOKEN.findall(text)))
    asks = "unsubscribe" in subject.lower() or any(
        text.strip().lower().startswith("unsubscribe") for text in texts[1:]
    )
    if not tokens and not asks:
        return Finding("other", reason="not a bounce, a complaint or an unsubscribe request")
    sender = email.utils.parseaddr(str(message.get("from", "")))[1].lower()
    return Finding(
        "unsubscribe",
        tokens=tokens,
        sender=sender,
        authenticated=_authenticated(message, sender, authserv_id),
        reason="asked to unsubscribe by mail",
    )


def _authenticated(message: Message, sender: str, authserv_id: str | None) -> bool:
    """Whether the user's own receiving server (``authserv_id``) says, in an
    Authentication-Results header it wrote, that DKIM or SPF passed for the From domain.

    Only the topmost run of headers with our id counts (RFC 8601 section 5): a server adds
    its header above those already there, so one with our id below another id's was in
    the message before our server saw it, written by the sender or a server on the way."""
    from authres import AuthenticationResultsHeader
    from authres.core import AuthResError

    if not authserv_id or "@" not in sender:
        return False
    domain = sender.rpartition("@")[2]
    for header in message.get_all("authentication-results") or []:  # top to bottom
        try:
            parsed = AuthenticationResultsHeader.parse_value(str(header))
        except (AuthResError, ValueError, IndexError):
            return False  # not our server's (it writes them well-formed): the run ends
        if str(parsed.authserv_id).lower() != authserv_id.lower():
            return False  # another id: everything below it came from outside
        for result in parsed.results:
            if str(result.result).lower() != "pass":
                continue
            props = {f"{p.type}.{p.name}".lower(): str(p.value).lower() for p in result.properties}
            method = str(result.method).lower()
            signer = props.get("header.d", "")
            if method == "dkim" and signer and (domain == signer or domain.endswith(f".{signer}")):
                return True  # the signing domain is From's, or the organisation's above it
            if method == "spf" and props.get("smtp.mailfrom", "").rpartition("@")[2] == domain:
                return True
    return False
