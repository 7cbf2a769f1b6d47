"""DKIM: every message signed after its reader's headers are stamped; the signature covers
the one-click headers and verifies with dkimpy against the record `digest check` prints."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import dkim
import dkim.crypto
import dns.rdata
import dns.rdtypes.ANY.TXT
import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter_digest.mail.dkim import dns_record, load_key, rsassa_pkcs1_v1_5_sign, sign
from smtp_helpers import Server, configure

Digest = Callable[..., Result]


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True
    )
    return path


def with_dkim(project: Path, key_file: Path) -> None:
    config = project / "digest.yaml"
    config.write_text(
        config.read_text()
        + "base_url: https://news.example.org\n"
        + f"dkim:\n  domain: example.org\n  selector: digest\n  key_file: {key_file}\n"
        + 'feedback_id: "weekly:digest:example"\n'
    )


def printed_record(output: str) -> list[bytes]:
    """The strings of the TXT record `digest check` prints, read as a zone file is read."""
    match = re.search(r"digest\._domainkey\.example\.org\s+TXT\s+(.+)", output)
    assert match is not None, output
    rdata = dns.rdata.from_text("IN", "TXT", match.group(1))
    assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
    return list(rdata.strings)


def published(digest: Digest) -> Callable[..., bytes]:
    """A DNS lookup that answers with the record `digest check` says to publish (its
    strings joined, as a resolver hands them to a verifier)."""
    record = b"".join(printed_record(digest("check").output))

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"digest._domainkey.example.org."
        return record

    return lookup


def signed_headers(message: bytes) -> set[str]:
    header = re.search(rb"DKIM-Signature:(.*?)\r\n(?![ \t])", message, re.DOTALL)
    assert header is not None
    names = re.search(rb"h=([^;]+)", re.sub(rb"\s+", b"", header.group(1)))
    assert names is not None
    return set(names.group(1).decode().lower().split(":"))


def test_sent_messages_verify_and_sign_the_unsubscribe_headers(
    project: Path, digest: Digest, servers: Callable[..., Server], key_file: Path
) -> None:
    smtp = servers()
    configure(project, smtp.port, recipients=["ann@example.org", "Bob <bob@example.org>"])
    text = (
        (project / "digest.yaml")
        .read_text()
        .replace('unsubscribe: "https://example.org/unsubscribe?email={email}"\n', "")
    )
    (project / "digest.yaml").write_text(text)
    with_dkim(project, key_file)
    assert digest("build").exit_code == 0
    lookup = published(digest)
    assert len(smtp.handler.received) == 2
    for received in smtp.handler.received:
        assert dkim.verify(received.data, dnsfunc=lookup)
        covered = signed_headers(received.data)
        assert {"from", "to", "subject", "date", "message-id", "list-id"} <= covered
        assert {"list-unsubscribe", "list-unsubscribe-post", "feedback-id"} <= covered
        assert b"Feedback-ID: weekly:digest:example" in received.data
        tampered = received.data.replace(b"Subject: ", b"Subject: FW: ", 1)
        assert not dkim.verify(tampered, dnsfunc=lookup)


def test_check_prints_the_record_in_strings_dns_takes(
    project: Path, digest: Digest, key_file: Path
) -> None:
    """A 2048-bit key's record is ~400 characters; one TXT string holds 255 at most."""
    with_dkim(project, key_file)
    strings = printed_record(digest("check").output)
    assert len(strings) == 2
    assert all(len(part) <= 255 for part in strings)
    whole = dns_record(load_key("example.org", "digest", key_file))[1]
    assert len(whole) > 255
    assert b"".join(strings).decode() == whole


def test_the_outbox_eml_verifies_too(project: Path, digest: Digest, key_file: Path) -> None:
    with_dkim(project, key_file)
    assert digest("build").exit_code == 0
    eml = next((project / "outbox" / "issue-0001").glob("*.eml")).read_bytes()
    assert dkim.verify(eml, dnsfunc=published(digest))


def test_check_names_an_unusable_key(project: Path, digest: Digest, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with_dkim(project, bad)
    result = digest("check")
    assert result.exit_code == 1 and "dkim.key_file" in result.output
    missing = project / "digest.yaml"
    missing.write_text(missing.read_text().replace(str(bad), str(tmp_path / "nowhere.pem")))
    result = digest("check")
    assert result.exit_code == 1 and "cannot read" in result.output


def test_a_reader_whose_message_cannot_be_made_fails_alone_when_signing(
    project: Path, digest: Digest, servers: Callable[..., Server], key_file: Path
) -> None:
    smtp = servers()
    configure(project, smtp.port, recipients=[f"r{n}@example.org" for n in range(6)])
    with_dkim(project, key_file)
    assert digest("build", "--no-send").exit_code == 0
    assert digest("readers", "list").exit_code == 0  # the book holds the config's readers
    db = sqlite3.connect(project / ".digest" / "state.db")  # a name from before names were cleaned
    db.execute("UPDATE readers SET name = 'Bob\nSmith' WHERE address = 'r3@example.org'")
    db.commit()
    db.close()
    result = digest("send")
    assert result.exit_code == 1
    assert sorted(smtp.handler.recipients()) == [f"r{n}@example.org" for n in (0, 1, 2, 4, 5)]
    again = digest("send")  # nothing more goes out, nobody twice
    assert len(smtp.handler.received) == 5
    assert "line break" in again.output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    body=st.binary(max_size=400).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"\r\n")),
    algorithm=st.sampled_from(["sha256", "sha1"]),
)
def test_openssl_signatures_are_dkimpys_own(
    key_file: Path, subject: str, body: bytes, algorithm: str
) -> None:
    """OpenSSL makes the RSA step; PKCS#1 v1.5 is deterministic, so it must give the very
    bytes dkimpy's pure-Python RSA gives for the same digest, and a signed message verifies
    against the published key."""
    key = load_key("example.org", "digest", key_file)
    message = (
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: "
        + subject.encode()
        + b"\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\n\r\n"
        + body
    )
    numbers = dkim.crypto.parse_pem_private_key(key.private_key)
    digest = hashlib.new(algorithm, message)
    ours = rsassa_pkcs1_v1_5_sign(digest, numbers)
    assert ours == bytes(dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, numbers))
    assert dkim.RSASSA_PKCS1_v1_5_sign is rsassa_pkcs1_v1_5_sign  # what dkimpy signs with
    record = dns_record(key)[1].encode()
    assert dkim.verify(sign(message, key), dnsfunc=lambda name, timeout=5: record)


def test_dkimpy_signs_through_the_openssl_primitive(
    key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a dkimpy release looked the RSA step up elsewhere, signing would quietly fall back
    to pure Python (six times slower): this notices."""
    calls: list[str] = []

    def counted(digest: object, private_key: dict[str, int]) -> bytes:
        calls.append("signed")
        return rsassa_pkcs1_v1_5_sign(digest, private_key)

    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", counted)
    key = load_key("example.org", "digest", key_file)  # load_key signs once, as a check
    sign(b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n", key)
    assert calls == ["signed", "signed"]
