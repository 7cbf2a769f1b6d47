"""SpamAssassin, with the rules Debian ships, scores our messages: the bundled example and
a heavy issue (25 excerpts, non-ASCII titles, an image) stay below 1.0, and no rule fires
that is about how the message is built (hidden or low-contrast text, HTML only, parts that
disagree, URI tricks)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import write_excerpt
from newsletter_digest.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SPAMASSASSIN = Path("/usr/bin/spamassassin")
# Rules about how a message is made, which a well-built newsletter must never fire.
CONSTRUCTION = re.compile(
    r"HTML_FONT_LOW_CONTRAST|HIDDEN|MIME_HTML_ONLY|MPART_ALT_DIFF|HTML_MIME_NO_HTML_TAG|"
    r"MIME_QP_LONG_LINE|HTML_IMAGE_ONLY|HTML_SHORT_LINK_IMG|URI_|HTTPS_HTTP_MISMATCH|"
    r"HTML_OBFUSCATE|MISSING_|INVALID_DATE|HEADER_FROM_DIFFERENT_DOMAINS|BAD_ENC_HEADER|"
    r"SUBJ_ILLEGAL_CHARS|FROM_EXCESS_BASE64|MIME_BASE64_TEXT|TVD_"
)


def score(eml: Path) -> tuple[float, dict[str, float]]:
    if not SPAMASSASSIN.exists():
        pytest.fail(
            f"{SPAMASSASSIN} is missing: 'make test' installs it (apt-get install spamassassin)"
        )
    done = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t"], input=eml.read_bytes(), capture_output=True, timeout=120
    )
    report = done.stdout.decode("utf-8", "replace")
    total = re.search(r"Content analysis details:\s+\((-?[0-9.]+) points", report)
    assert total is not None, report[-2000:]
    rules = {
        name: float(points)
        for points, name in re.findall(r"^\s*(-?[0-9.]+)\s+([A-Z0-9_]+)\s", report, re.M)
    }
    return float(total.group(1)), rules


def build_example(folder: Path, extra: Callable[[Path], None] | None = None) -> Path:
    shutil.copy2(ROOT / "digest.yaml", folder / "digest.yaml")
    shutil.copytree(ROOT / "content", folder / "content")
    if extra is not None:
        extra(folder)
    result = CliRunner().invoke(cli, ["--config", str(folder / "digest.yaml"), "build"])
    assert result.exit_code == 0, result.output
    return next((folder / "outbox" / "issue-0001").glob("*.eml"))


def test_the_bundled_example_scores_below_one(tmp_path: Path) -> None:
    total, rules = score(build_example(tmp_path))
    assert total < 1.0, rules
    assert not [rule for rule in rules if CONSTRUCTION.search(rule)], rules


def heavy(folder: Path) -> None:
    config = folder / "digest.yaml"
    text = re.sub(r"(?m)^per_issue:.*$", "per_issue: 25", config.read_text())
    config.write_text(text if "per_issue: 25" in text else text + "per_issue: 25\n")
    for n in range(25):
        body = f"Ein Absatz über Zürich und Kraków, número {n}: ruhig, klar, lesbar. " * 3
        if n == 2:
            body += "\n\n![A chart of the week's latency](https://example.org/chart.png)"
        write_excerpt(
            folder / "content",
            f"zz-{n}",
            f"Grüße aus Zürich — Nº {n}",
            body,
            url=f"https://example.org/posts/{n}",
        )


def test_a_heavy_issue_scores_below_one_too(tmp_path: Path) -> None:
    total, rules = score(build_example(tmp_path, heavy))
    assert total < 1.0, rules
    assert not [rule for rule in rules if CONSTRUCTION.search(rule)], rules
