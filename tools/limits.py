"""Size limits ruff has no rule for: functions at most 60 lines, modules at most 500.

Run by ``make lint`` over ``src/``; cyclomatic complexity (C901, at most 15) and statements
per function (PLR0915) are ruff's own rules, configured in pyproject.toml.
Usage: python tools/limits.py [PATH ...]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500


def problems(path: Path) -> list[str]:
    """Every function over its line budget and the module itself if it is over its own."""
    text = path.read_text(encoding="utf-8")
    found: list[str] = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{path}: module has {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION_LINES:
                found.append(
                    f"{path}:{node.lineno}: function {node.name} has {length} lines "
                    f"(at most {MAX_FUNCTION_LINES})"
                )
    return found


def main(argv: list[str]) -> int:
    """Check every Python file under the given paths (default: src); 1 if any is over."""
    roots = [Path(a) for a in argv] or [Path("src")]
    files = sorted(f for root in roots for f in ([root] if root.is_file() else root.rglob("*.py")))
    found = [p for f in files for p in problems(f)]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
