"""The sending and receiving sections of digest.yaml: ``smtp``, ``dkim`` and ``inbox`` as an
IMAP account (each key declared once; Settings in schema.py holds them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newsletter_digest.addresses import CONTROLS, split_mailbox
from newsletter_digest.config.durations import Span
from newsletter_digest.errors import shorten


def one_line(value: str) -> str:
    """Refuse a line break or control character in a value that becomes a line or header."""
    if CONTROLS.search(value):
        raise ValueError("must be a single line (no line breaks or control characters)")
    return value


def address(value: str) -> str:
    """Refuse what is not one mailbox (``Name <addr@domain>`` or ``addr@domain``)."""
    split_mailbox(value)
    return value


class SmtpSettings(BaseModel):
    """The ``smtp`` section: where and how to send; the password comes from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="The relay's host name or address.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port; default 587 for starttls, 465 for ssl, 25 for none.",
    )
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        description="TLS after connecting (starttls), from the start (ssl), or none.",
    )
    username: str | None = Field(
        default=None, description="Login name; AUTH happens only over TLS unless security: none."
    )
    password_env: str = Field(
        default="DIGEST_SMTP_PASSWORD",
        description="Environment variable holding the password (never the file).",
    )
    ca_file: Path | None = Field(
        default=None, description="Extra CA bundle (PEM), e.g. for a relay's private certificate."
    )
    timeout: Annotated[float, Span(above_zero=True)] = Field(
        default=30.0, description="How long connecting and each command may take: '30s', '2m'."
    )
    rate: float | None = Field(default=None, gt=0, description="At most this many messages/s.")
    retries: int = Field(
        default=3, ge=0, le=20, description="Tries after a 4xx reply or a dropped connection."
    )
    retry_delay: Annotated[float, Span()] = Field(
        default=2.0, description="The wait before the first retry ('2s'); doubled each time."
    )
    connections: int = Field(
        default=1,
        ge=1,
        le=32,
        description="SMTP sessions sending at once; each reader is still sent one message.",
    )
    helo: str | None = Field(
        default=None,
        min_length=1,
        description="The name given in EHLO; default: this machine's fully qualified name.",
    )
    return_path: str | None = Field(
        default=None,
        description="Envelope sender (MAIL FROM), where bounces go; default: the From address.",
    )
    verp: bool = Field(
        default=False,
        description="Give each reader's message its own envelope sender, "
        "bounces+TOKEN@domain, so a bounce names who bounced (the token is opaque).",
    )

    @field_validator("return_path")
    @classmethod
    def _return_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name, address = split_mailbox(value)
        if name:
            raise ValueError("a bare address like bounces@example.org (no display name)")
        return address

    @field_validator("helo")
    @classmethod
    def _helo(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]", value):
            raise ValueError(f"{shorten(value)} is not a host name or [address literal]")
        return value

    @property
    def effective_port(self) -> int:
        """The configured port, or the usual one for the security mode."""
        if self.port is not None:
            return self.port
        return {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class DkimSettings(BaseModel):
    """The ``dkim`` section: sign every message (dkimpy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str = Field(
        min_length=1, description="The signing domain (d=), usually the sender's domain."
    )
    selector: str = Field(min_length=1, description="The selector (s=): NAME._domainkey.DOMAIN.")
    key_file: Path = Field(description="The PEM RSA private key (openssl genrsa 2048).")

    @field_validator("domain", "selector")
    @classmethod
    def _label(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value):
            raise ValueError(f"{shorten(value)} is not a domain name or DNS label")
        return value


class ImapSettings(BaseModel):
    """``inbox`` as an IMAP account: read over TLS with imaplib, the password from the
    environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="The IMAP server.")
    port: int = Field(default=993, ge=1, le=65535, description="IMAP over TLS (IMAPS) port.")
    user: str = Field(min_length=1, description="The account's login name.")
    password_env: str = Field(
        default="DIGEST_IMAP_PASSWORD",
        description="Environment variable holding the password (never the file).",
    )
    folder: str = Field(default="INBOX", description="The folder returned mail arrives in.")
    processed_folder: str = Field(
        default="processed", description="Where processed messages are moved (made if missing)."
    )
    ca_file: Path | None = Field(
        default=None, description="Extra CA bundle (PEM) for a server with a private certificate."
    )
