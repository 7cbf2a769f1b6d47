"""A warm `digest build` (the config, templates and excerpts seen before) starts fast.

What a scheduled run costs is mostly what it imports. These tests run real processes on a
copy of the bundled example and check that, once the caches are warm, a build loads none of
the modules only a first run or another command needs. The timings themselves are in
bench/bench_startup.py; tests do not time anything.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "pydantic",  # config validation: cached by the config file's bytes
    "yaml",  # parsing digest.yaml and unusual front matter
    "markdown_it",  # rendered bodies are kept in the memo
    "css_inline",  # inlined fragments too
    "email.policy",  # headers that need no encoding are written directly
    "html",  # HTML is escaped by markupsafe, which Jinja2 loads anyway
    "newsletter_digest.content.frontmatter",  # excerpts are read from the content cache
    "xml.etree.ElementTree",  # the feed is written as text
    "smtplib",  # only `send`
    "http.server",  # only `preview`
    "watchfiles",  # only `preview`
    "schedule",  # only `run`
    "newsletter_digest.schedule.slots",  # only `run` and `next`
)
PROBE = """
import sys
from newsletter_digest.cli import main
try:
    main()
finally:
    print(" ".join(sorted(name for name in {heavy!r} if name in sys.modules)), file=sys.stderr)
"""


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the bundled example (its config and excerpts, none of its state)."""
    shutil.copy2(ROOT / "digest.yaml", tmp_path / "digest.yaml")
    shutil.copytree(ROOT / "content", tmp_path / "content")
    return tmp_path


def build(folder: Path, *options: str) -> str:
    """Run `digest build --no-send` in a new process; the heavy modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), "build", *(options or ["--no-send"])],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def test_a_dry_run_reads_the_caches_a_build_left(example: Path) -> None:
    build(example, "--dry-run")
    assert not (example / ".digest").exists()
    for _ in range(3):
        build(example)
    caches = sorted(path.stat().st_mtime_ns for path in (example / ".digest").rglob("*"))
    build(example, "--dry-run")
    assert sorted(path.stat().st_mtime_ns for path in (example / ".digest").rglob("*")) == caches


def test_a_changed_config_is_validated_again(example: Path) -> None:
    build(example)
    config = example / "digest.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\nper_issue: 0\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "newsletter_digest", "build", "--no-send"],
        cwd=example,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "per_issue: expected an integer >= 1" in done.stderr
