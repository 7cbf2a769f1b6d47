"""`digest build` as a whole process on a copy of the bundled example: a dry run writes
nothing, not even a cache, and an edited config takes effect at once. (Start-up time is
measured in bench/bench_startup.py, not here.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the bundled example (its config and excerpts, none of its state)."""
    shutil.copy2(ROOT / "digest.yaml", tmp_path / "digest.yaml")
    shutil.copytree(ROOT / "content", tmp_path / "content")
    return tmp_path


def build(folder: Path, *options: str) -> None:
    """Run `digest build --no-send` (or with ``options``) in a new process."""
    subprocess.run(
        [sys.executable, "-m", "newsletter_digest", "build", *(options or ["--no-send"])],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )


def test_a_dry_run_writes_nothing_not_even_a_cache(example: Path) -> None:
    build(example, "--dry-run")
    assert not (example / ".digest").exists()
    for _ in range(3):
        build(example)
    caches = sorted(path.stat().st_mtime_ns for path in (example / ".digest").rglob("*"))
    build(example, "--dry-run")
    assert sorted(path.stat().st_mtime_ns for path in (example / ".digest").rglob("*")) == caches


def test_an_edited_config_takes_effect_at_once(example: Path) -> None:
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
