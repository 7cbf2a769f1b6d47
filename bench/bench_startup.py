"""Start-up: `digest build` as a whole process on a copy of the bundled example, beside a bare
`python -c "import jinja2, mjml"` measured in the same run (issue #14 target: at most 3x).

Each figure is the best of --runs runs (the least disturbed by other work on the machine),
as wall-clock time and as CPU time (user + system). "first" is a fresh copy (nothing cached:
compiled templates, the content index); "second" is the build after it, whose excerpts
have never been shown (as when new excerpts come up in rotation); "next" is a build whose
excerpts were all seen before, which finds the template and content caches warm. Byte-compiled
modules are written as usual, so the numbers are what a user's second command sees. The
command is the installed `digest` script.

Where valgrind is installed, the same four are also counted in instructions executed
(callgrind): a figure that other work on the machine does not move, unlike time.

Usage: python bench/bench_startup.py [--runs 15] [--no-instructions]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGEST = [str(Path(sys.executable).with_name("digest"))]


def wall(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def instructions(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Instructions one run of ``command`` executes, counted by valgrind's callgrind."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr}")
    return int(match.group(1))


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
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-instructions", action="store_true", help="skip the valgrind count")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    build = [sys.executable, *DIGEST, "build", "--no-send"]
    bare_import = [sys.executable, "-c", "import jinja2, mjml"]
    bare: list[tuple[float, float]] = []
    first: list[tuple[float, float]] = []
    second: list[tuple[float, float]] = []
    following: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        parent = Path(tmp)
        warmup = fresh_example(parent, "warmup")
        wall(build, warmup, env)  # byte-compile every module once, as any install does
        project = fresh_example(parent, "next")
        wall(build, project, env)
        # Interleaved, so that load from elsewhere on the machine hits all three alike.
        for n in range(args.runs):
            bare.append(wall(bare_import, parent, env))
            fresh = fresh_example(parent, f"first-{n}")
            first.append(wall(build, fresh, env))
            second.append(wall(build, fresh, env))
            following.append(wall(build, project, env))
        counts = None
        if not args.no_instructions and shutil.which("valgrind"):
            fresh = fresh_example(parent, "first-counted")
            counts = (
                instructions(bare_import, parent, env),
                instructions(build, fresh, env),
                instructions(build, fresh, env),
                instructions(build, project, env),
            )
    for label, index in (("wall clock", 0), ("CPU time", 1)):
        bare_s = min(run[index] for run in bare)
        first_s = min(run[index] for run in first)
        second_s = min(run[index] for run in second)
        next_s = min(run[index] for run in following)
        print(f"{label}, best of {args.runs}:")
        print(f"  bare python -c 'import jinja2, mjml': {bare_s * 1000:6.0f} ms")
        print(
            f"  digest build, first (nothing cached):  {first_s * 1000:6.0f} ms  "
            f"({first_s / bare_s:.1f}x the bare import)"
        )
        print(
            f"  digest build, second (new excerpts):   {second_s * 1000:6.0f} ms  "
            f"({second_s / bare_s:.1f}x the bare import)"
        )
        print(
            f"  digest build, next (caches warm):      {next_s * 1000:6.0f} ms  "
            f"({next_s / bare_s:.1f}x the bare import; target 3x)"
        )
    # Each round ran the three side by side, so its ratio is little moved by slow drifts in
    # the machine's speed (other jobs, CPU frequency); the median of those is the steadiest.
    ratios = sorted(run[1] / base[1] for run, base in zip(following, bare, strict=True))
    seconds = sorted(run[1] / base[1] for run, base in zip(second, bare, strict=True))
    firsts = sorted(run[1] / base[1] for run, base in zip(first, bare, strict=True))
    print(
        f"CPU time ratio per round, median of {args.runs}: next {statistics.median(ratios):.2f}x "
        f"(quartiles {_quartiles(ratios)}), second {statistics.median(seconds):.2f}x, "
        f"first {statistics.median(firsts):.2f}x"
    )
    if counts is not None:
        bare_n, first_n, second_n, next_n = counts
        print("instructions executed (valgrind callgrind; not moved by load):")
        for label, count in (
            ("bare python -c 'import jinja2, mjml'", bare_n),
            ("digest build, first (nothing cached)", first_n),
            ("digest build, second (new excerpts)", second_n),
            ("digest build, next (caches warm)", next_n),
        ):
            print(f"  {label + ':':38s} {count / 1e6:6.0f} M  ({count / bare_n:.2f}x)")


def _quartiles(values: list[float]) -> str:
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.2f}-{high:.2f}"


if __name__ == "__main__":
    main()
