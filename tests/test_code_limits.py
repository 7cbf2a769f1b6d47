"""The limits of issue #26 hold for the code and `make lint` would catch a breach: functions
at most 60 lines, modules at most 500 (tools/limits.py), complexity at most 15 (ruff C901)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import limits  # noqa: E402


def test_src_is_within_the_size_limits() -> None:
    found = [p for f in sorted((ROOT / "src").rglob("*.py")) for p in limits.problems(f)]
    assert found == []


def test_a_long_function_and_a_long_module_are_reported(tmp_path: Path) -> None:
    body = "".join(f"    x{n} = {n}\n" for n in range(60))
    (tmp_path / "long.py").write_text("def long() -> None:\n" + body, encoding="utf-8")
    (tmp_path / "big.py").write_text("x = 1\n" * 501, encoding="utf-8")
    just = "".join(f"    x{n} = {n}\n" for n in range(59))  # 60 lines with its def
    (tmp_path / "fine.py").write_text("def fine() -> None:\n" + just, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "limits.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "function long has 61 lines" in run.stdout
    assert "big.py: module has 501 lines" in run.stdout
    assert "fine" not in run.stdout


def test_the_makefile_lint_enforces_the_limits() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "tools/limits.py src" in lint
    assert "ruff check src" in lint
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"C90"' in pyproject and "max-complexity = 15" in pyproject


SQL = re.compile(r"""["'](?:\s*)(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|PRAGMA|BEGIN)\s""")
RETIRED = re.compile(r"\bhttp\.server\b|\bsocketserver\b|gc\.disable\(|os\.sync\(|import sqlite3")


def test_sql_and_retired_stand_ins_live_nowhere_but_their_place() -> None:
    """All SQL (and the sqlite3 driver) in state/; no http.server, socketserver, gc.disable
    or os.sync left in src/ (one Starlette app; fsync of what was written)."""
    state = ROOT / "src" / "newsletter_digest" / "state"
    found = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        retired = RETIRED.findall(text)
        if state in path.parents:
            retired = [r for r in retired if r != "import sqlite3"]
        elif SQL.search(text):
            found.append(f"{path}: SQL {SQL.search(text).group(0)!r}")  # type: ignore[union-attr]
        found += [f"{path}: {r}" for r in retired]
    assert found == []


def test_the_sql_check_sees_sql() -> None:
    assert SQL.search('db.run("SELECT 1")') and SQL.search("'''\n    UPDATE readers SET")
    assert not SQL.search('"Select the next issue"')
