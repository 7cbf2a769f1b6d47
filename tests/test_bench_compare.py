"""bench/compare.py: the benchmarks before a git ref and after (this tree) side by side, as
the Markdown table an issue's closing note quotes; its temporary worktree never outlives it."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPARE = [sys.executable, str(ROOT / "bench" / "compare.py")]
MESSAGES = [
    "naive EmailMessage (CPU)",
    "MessageFactory (CPU)",
    "message size",
    "whole run (CPU, user + system)",
]


def _worktrees(under: Path) -> list[str]:
    """The repository's worktrees in ``under`` (others may come and go meanwhile)."""
    listed = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    paths = [line.removeprefix("worktree ") for line in listed.splitlines()]
    return [path for path in paths if path.startswith(str(under.resolve()))]


def _env(tmp_path: Path) -> dict[str, str]:
    """compare.py makes its worktrees in a temporary folder: here, in the test's own."""
    return {**os.environ, "TMPDIR": str(tmp_path)}


def _rows(table: str) -> dict[str, list[str]]:
    """The table's body rows by figure name, each as its cells."""
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("benchmark", "---"):
            rows[cells[1]] = cells
    return rows


def test_head_against_head_gives_one_row_per_figure_with_finite_ratios(tmp_path: Path) -> None:
    done = subprocess.run(
        [*COMPARE, "--quick", "--rounds", "1", "--bench", "messages", "--before", "HEAD"],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    header = "| benchmark | figure | unit | better | before | after | after/before | within 10% |"
    assert header in done.stdout
    rows = _rows(done.stdout)
    assert sorted(rows) == sorted(MESSAGES)
    for name, cells in rows.items():
        assert cells[0] == "messages"
        ratio = float(cells[6])
        assert math.isfinite(ratio) and ratio > 0, name
        assert float(cells[4].replace(",", "")) > 0 and float(cells[5].replace(",", "")) > 0
    # The same code on both sides writes the same message, byte for byte.
    assert rows["message size"][6] == "1.00" and rows["message size"][7] == "yes"
    assert _worktrees(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_comparison_removes_its_worktree(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [*COMPARE, "--quick", "--rounds", "3", "--bench", "messages", "--before", "HEAD"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    first = child.stderr.readline()  # the first script has run: the worktree is in use
    assert first.startswith("round 1/3"), first
    assert len(_worktrees(tmp_path)) == 1
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode != 0
    assert "interrupted" in err
    assert _worktrees(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
