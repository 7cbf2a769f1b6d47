"""Start-up: `digest build` as a whole process on a copy of the bundled example, beside a bare
`python -c "import jinja2, mjml"` measured in the same run (issue #6 target: at most 2x).

Each figure is the best of --runs wall-clock runs (the least disturbed by other work on the
machine). "first" is a fresh copy (nothing cached: config validation, compiled templates,
rendered Markdown); "next" is every later build, which finds those caches. Byte-compiled
modules are written as usual, so the numbers are what a user's second command sees.

Usage: python bench/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGEST = [sys.executable, "-m", "newsletter_digest"]


def wall(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def fresh_example(parent: Path, name: str) -> Path:
    """A copy of the bundled example (config, content, templates) with no state."""
    folder = parent / name
    folder.mkdir()
    shutil.copy2(ROOT / "digest.yaml", folder / "digest.yaml")
    shutil.copytree(ROOT / "content", folder / "content")
    if (ROOT / "templates").is_dir():
        shutil.copytree(ROOT / "templates", folder / "templates")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    build = [*DIGEST, "build", "--no-send"]
    with tempfile.TemporaryDirectory() as tmp:
        parent = Path(tmp)
        warmup = fresh_example(parent, "warmup")
        wall(build, warmup, env)  # byte-compile every module once, as any install does
        bare = min(
            wall([sys.executable, "-c", "import jinja2, mjml"], parent, env)
            for _ in range(args.runs)
        )
        first = min(wall(build, fresh_example(parent, f"first-{n}"), env) for n in range(args.runs))
        project = fresh_example(parent, "next")
        wall(build, project, env)
        following = min(wall(build, project, env) for _ in range(args.runs))
    print(f"bare python -c 'import jinja2, mjml': {bare * 1000:6.0f} ms")
    print(
        f"digest build, first (nothing cached):  {first * 1000:6.0f} ms  "
        f"({first / bare:.1f}x the bare import)"
    )
    print(
        f"digest build, next (caches warm):      {following * 1000:6.0f} ms  "
        f"({following / bare:.1f}x the bare import; target 2x)"
    )


if __name__ == "__main__":
    main()
