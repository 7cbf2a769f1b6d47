"""Hostile input, end to end: header injection through titles, YAML alias bombs and huge
files in digest.yaml and front matter, and values echoed back into error messages.

Each test runs under a time limit (pytest-timeout): a regression fails instead of hanging.
"""

from __future__ import annotations

import csv
import email
import json
import re
import time
import urllib.request
from collections.abc import Callable
from email import policy
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import wait_for, write_excerpt
from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book
from newsletter_digest.state.store import open_state
from newsletter_digest.web.preview import PreviewServer
from smtp_helpers import Server

pytestmark = pytest.mark.timeout(60)
Digest = Callable[..., Result]
INJECTION = "=?utf-8?q?Hi=0D=0ABcc=3A_evil@attacker.example?="


def bomb(levels: int = 9, name: str = "lol") -> str:
    """A 'billion laughs' chain: each level lists the one before nine times."""
    lines = [f"{name}0: &{name}0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*{name}{level - 1}"] * 9)
        lines.append(f"{name}{level}: &{name}{level} [{refs}]")
    return "\n".join(lines) + "\n"


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_short_lines(output: str, limit: int = 400) -> None:
    """No error or warning line grows with the input."""
    assert max((len(line) for line in output.splitlines()), default=0) <= limit, output[:2000]


@pytest.mark.parametrize("key", ["recipients", "title"])
@pytest.mark.parametrize("command", ["check", "build"])
def test_a_config_alias_bomb_is_refused_at_once(
    project: Path, digest: Digest, key: str, command: str
) -> None:
    config = project / "digest.yaml"
    lines = [line for line in config.read_text().splitlines() if not line.startswith(key)]
    config.write_text(bomb() + "\n".join(lines) + f"\n{key}: *lol8\n", encoding="utf-8")
    before = tree(project)
    started = time.monotonic()
    result = digest(command)
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert re.search(r"digest\.yaml:\d: not valid YAML", result.output)
    assert "expand to more than" in result.output
    assert "hint:" in result.output
    assert "Traceback" not in result.output
    assert_short_lines(result.output)
    assert tree(project) == before  # nothing written


def test_a_seven_level_bomb_is_refused_too_and_not_printed(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + bomb(7, "x") + "footer: *x6\n", encoding="utf-8")
    result = digest("check")
    assert result.exit_code == 1
    assert "expand to more than" in result.output
    assert len(result.output) < 2000


def test_an_alias_that_contains_itself_is_refused(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + "loop: &loop [*loop]\n", encoding="utf-8")
    result = digest("check")
    assert result.exit_code == 1
    assert "refers to the value that contains it" in result.output


def test_a_few_aliases_still_work(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    text = config.read_text().replace('title: "Test Weekly"', 'title: &name "Test Weekly"')
    config.write_text(text + "footer: *name\n", encoding="utf-8")
    assert digest("check").exit_code == 0


def test_a_config_over_one_mebibyte_is_refused_unparsed(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + "# padding\n" * 120_000, encoding="utf-8")
    result = digest("build")
    assert result.exit_code == 1
    assert "larger than 1 MiB" in result.output and "recipients_file" in result.output
    assert not (project / "outbox").exists()


@pytest.mark.parametrize("command", ["check", "build"])
def test_a_front_matter_bomb_skips_only_that_excerpt(
    project: Path, digest: Digest, command: str
) -> None:
    bad = project / "content" / "bomb.md"
    bad.write_text("---\n" + bomb() + "tags: *lol8\n---\nBody.\n", encoding="utf-8")
    started = time.monotonic()
    result = digest(command)
    assert time.monotonic() - started < 10
    assert "bomb.md" in result.output and "expand to more than" in result.output
    assert_short_lines(result.output)
    if command == "build":
        assert result.exit_code == 0, result.output
        assert (project / "outbox" / "issue-0001").is_dir()
    else:
        assert result.exit_code == 1  # check lists the bad file and fails


def test_an_excerpt_file_over_the_size_limit_is_refused(project: Path, digest: Digest) -> None:
    big = project / "content" / "big.md"
    big.write_text("---\ntitle: Big\n---\n" + "word " * 60_000, encoding="utf-8")
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "big.md" in result.output and "larger than 256 KiB" in result.output


@pytest.mark.parametrize(
    ("key", "value"),
    [("per_issue", "x" * 20_000), ("sender", "y" * 20_000), ("schedule", {"every": "z" * 9000})],
)
def test_echoed_values_are_cut_short(
    project: Path, digest: Digest, key: str, value: object
) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + f"{key}: {json.dumps(value)}\n", encoding="utf-8")
    result = digest("check")
    assert result.exit_code == 1
    assert "…" in result.output
    assert_short_lines(result.output, 300)


def test_a_bad_front_matter_value_is_cut_short(project: Path, digest: Digest) -> None:
    write_excerpt(project / "content", "long", "Long", weight="w" * 50_000)
    result = digest("check")
    assert "long.md" in result.output and "…" in result.output
    assert_short_lines(result.output, 400)


def eml(project: Path) -> bytes:
    return next((project / "outbox" / "issue-0001").glob("*.eml")).read_bytes()


def test_an_encoded_line_break_in_a_title_forges_no_header(project: Path, digest: Digest) -> None:
    """The reported hole, end to end: every excerpt's title is the injection."""
    for path in (project / "content").glob("*.md"):
        path.unlink()
    for n in range(3):
        write_excerpt(project / "content", f"evil-{n}", INJECTION)
    assert digest("build").exit_code == 0
    data = eml(project)
    assert b"\r\nBcc:" not in data and b"\nBcc:" not in data
    message = email.message_from_bytes(data, policy=policy.default)
    assert message["Bcc"] is None
    assert INJECTION in message["Subject"]


def test_line_breaks_in_a_title_stay_out_of_the_subject(project: Path, digest: Digest) -> None:
    for n, path in enumerate(sorted((project / "content").glob("*.md"))):
        title = f'"A\\u2028Bcc: x@y.org\\r\\n{n}"'  # YAML escapes: a real U+2028, CR, LF
        path.write_text(f"---\ntitle: {title}\n---\nBody {n}.\n", encoding="utf-8")
    config = project / "digest.yaml"
    config.write_text(config.read_text() + 'subject: "{{ excerpts[0].title }}"\n')
    result = digest("build")
    assert result.exit_code == 0, result.output
    message = email.message_from_bytes(eml(project), policy=policy.default)
    assert message["Bcc"] is None
    assert message["Subject"].startswith("A Bcc: x@y.org")


def test_the_smtp_wire_carries_no_forged_header(project: Path, digest: Digest) -> None:
    server = Server(__import__("smtp_helpers").Behaviour()).start()
    try:
        config = project / "digest.yaml"
        config.write_text(
            config.read_text()
            + f"smtp:\n  host: 127.0.0.1\n  port: {server.port}\n  security: none\n",
            encoding="utf-8",
        )
        for path in (project / "content").glob("*.md"):
            path.unlink()
        for n in range(3):
            write_excerpt(project / "content", f"evil-{n}", INJECTION)
        result = digest("build")
        assert result.exit_code == 0, result.output
        assert server.handler.wait_for(1)
        (received,) = server.handler.received
        assert received.rcpt_tos == ["reader@example.org"]
        assert b"\r\nBcc:" not in received.data
        assert received.message["Bcc"] is None
    finally:
        server.stop()


def api(server: PreviewServer) -> dict[str, object]:
    url = f"http://127.0.0.1:{server.port}/api/next"
    with urllib.request.urlopen(url, timeout=20) as response:
        data: dict[str, object] = json.loads(response.read())
    return data


def test_the_preview_skips_a_bombed_excerpt_and_shows_why(
    project: Path, preview: PreviewServer
) -> None:
    bad = project / "content" / "bomb.md"
    bad.write_text("---\n" + bomb() + "title: *lol8\n---\nBody.\n", encoding="utf-8")
    wait_for(lambda: "bomb.md" in json.dumps(api(preview)))
    shown = json.dumps(api(preview))
    assert "expand to more than" in shown
    assert api(preview)["error"] is None  # the issue still previews with the rest
    assert len(shown) < 100_000


def test_the_preview_shows_a_bombed_config_as_an_error(
    project: Path, preview: PreviewServer
) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + bomb() + "footer: *lol8\n", encoding="utf-8")
    wait_for(lambda: api(preview)["error"] is not None)
    error = json.dumps(api(preview)["error"])
    assert "expand to more than" in error and len(error) < 2000


def reader_count(project: Path) -> int:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        return sum(book.counts(state).values())


def listmonk_rows(count: int, start: int = 0) -> list[str]:
    return [f"{n},r{n}@example.org,Reader {n},enabled\n" for n in range(start, start + count)]


def import_refused(project: Path, digest: Digest, data: bytes, line: int) -> str:
    """Import ``data``: refused naming ``line``, nothing imported, no traceback."""
    assert digest("readers", "list").exit_code == 0  # the config's readers are in
    before = reader_count(project)
    path = project / "members.csv"
    path.write_bytes(data)
    started = time.monotonic()
    result = digest("readers", "import", str(path))
    assert time.monotonic() - started < 20
    assert result.exit_code == 1, result.output
    assert f"members.csv: line {line}: " in result.output
    assert "nothing was imported" in result.output and "hint:" in result.output
    assert "Traceback" not in result.output
    assert_short_lines(result.output)
    assert reader_count(project) == before
    return result.output


def test_a_megabyte_cell_is_refused_with_its_line(project: Path, digest: Digest) -> None:
    rows = ["uuid,email,name,status\n", *listmonk_rows(3)]
    rows[2] = f"1,r1@example.org,{'x' * 1_000_000},enabled\n"
    output = import_refused(project, digest, "".join(rows).encode(), 3)
    assert "longer than" in output


def test_an_unbalanced_quote_on_line_two_of_eight_thousand_is_named(
    project: Path, digest: Digest
) -> None:
    rows = ["uuid,email,name,status\n", *listmonk_rows(8000)]
    rows[1] = '0,r0@example.org,"Reader 0,enabled\n'
    output = import_refused(project, digest, "".join(rows).encode(), 2)
    assert "never closed" in output


def test_a_broken_last_line_of_a_long_file_imports_nothing(project: Path, digest: Digest) -> None:
    """The import writes in batches, after a first pass found the whole file readable."""
    rows = ["uuid,email,name,status\n", *listmonk_rows(12_000), '9,last@example.org,"x"y,enabled\n']
    import_refused(project, digest, "".join(rows).encode(), 12_002)
    data = "".join(rows[:-1]).encode() + b"9,last@example.org,\xff\xfe,enabled\n"
    output = import_refused(project, digest, data, 12_002)
    assert "not UTF-8" in output


# Bytes that make CSV and UTF-8 go wrong, among harmless ones.
CSV_BYTES = st.lists(
    st.sampled_from(
        [
            b",",
            b'"',
            b"\n",
            b"\r",
            b"\r\n",
            b"\x00",
            b"\xff",
            b"\xc3",
            b"\xa9",
            b"a@b.org",
            b"'",
            b"=",
            b"email",
            b"name",
            b"status",
            b"enabled",
            b"x",
            b" ",
            b"\xef\xbb\xbf",
            b"<",
            b">",
        ]
    ),
    max_size=40,
).map(b"".join)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=st.one_of(CSV_BYTES, st.binary(max_size=200)), header=st.booleans())
def test_any_bytes_import_cleanly_or_are_refused_naming_a_line(
    project: Path, digest: Digest, body: bytes, header: bool
) -> None:
    data = (b"email,name,status\n" if header else b"") + body
    path = project / "fuzz.csv"
    path.write_bytes(data)
    assert digest("readers", "list").exit_code == 0  # the config's readers are in
    before = reader_count(project)
    result = digest("readers", "import", str(path))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert "fuzz.csv: " in result.output
    else:
        assert result.exit_code == 1
        assert re.search(r"fuzz\.csv: line \d+: .+; nothing was imported", result.output)
        assert reader_count(project) == before


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_bad_byte_is_named_at_its_line_whatever_the_line_ends(
    project: Path, digest: Digest, end: str
) -> None:
    rows = ["email,name", *(f"r{n}@example.org,R{n}" for n in range(40_000))]
    data = end.join(rows).encode() + f"{end}bad@example.org,\xff{end}".encode("latin-1")
    output = import_refused(project, digest, data, 40_002)
    assert "not UTF-8" in output
    (project / "ok.csv").write_text(end.join(rows) + end, encoding="utf-8", newline="")
    result = digest("readers", "import", str(project / "ok.csv"))
    assert "40000 new" in result.output, result.output


def test_a_long_cell_is_named_as_such_whatever_the_csv_field_limit(
    project: Path, digest: Digest
) -> None:
    """The csv module's field limit is process-wide (another importer raises it): a long
    cell on one line is called a long cell either way, not an unclosed quote."""
    rows = ["email,name\n", "ann@example.org,Ann\n", f"bob@example.org,{'b' * 300_000}\n"]
    before = csv.field_size_limit(131_072)
    try:
        output = import_refused(project, digest, "".join(rows).encode(), 3)
    finally:
        csv.field_size_limit(before)
    assert "a cell is longer than" in output
