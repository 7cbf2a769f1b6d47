"""One error tree for everything a user can fix: each error carries a message and a hint.

The CLI catches :class:`DigestError` once, prints ``error: message`` and ``hint: hint`` and
exits 1; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DigestError(Exception):
    """A problem the user can fix; ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


def shorten(value: object, limit: int = 80) -> str:
    """A user's value as an error message shows it: its repr, cut to about ``limit``
    characters with "…", so that no message grows with the input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ConfigError(DigestError):
    """digest.yaml is missing, unreadable or invalid."""


class ContentError(DigestError):
    """The content folder cannot be used (missing, empty pool, unreadable import file)."""


class TemplateError(DigestError):
    """A template is missing, does not compile or fails while rendering."""


class ComposeError(DigestError):
    """The email message cannot be built (bad header value, bad address)."""


class OutboxError(DigestError):
    """An issue cannot be written to the outbox."""


class StateError(DigestError):
    """The state database cannot be opened, read or written."""


class DeliveryError(DigestError):
    """Sending over SMTP failed in a way the user must act on."""


class PreviewError(DigestError):
    """The preview server cannot start, or cannot show what was asked for."""


class SlotTakenError(DigestError):
    """The slot already has an issue (or a later slot is recorded): nothing is made for it."""
