"""Benchmarks before and after a change, side by side in one sitting, as a Markdown table.

"before" is a git ref, checked out into a temporary detached worktree (removed at the end,
also on Ctrl-C); "after" is this working tree, or another ref or folder. Each tree runs its
own bench scripts against its own src/ (PYTHONPATH) with the same Python, alternating
before/after for --rounds rounds (the order flips each round, so a slow drift in the
machine's speed hits both alike); each figure is the median of the rounds. The table says
after/before, whether the change stays within --tolerance in the worse direction, and the
run-to-run spread of each side ((max - min) / median over the rounds): a figure whose spread
exceeds the tolerance cannot show a change that small.

Usage: python bench/compare.py [--before REF] [--after REF|PATH] [--bench build,messages]
                               [--rounds 3] [--quick] [--instructions] [--cpu N] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compare_figures import BENCHES, NUMBER, Bench, Figure

ROOT = Path(__file__).resolve().parent.parent
ROUND_START = "494b9c8"  # main before issue #26 (one application layer) began
WHOLE_RUN = "compare.py: the whole run took CPU"
VALGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes"]
VALGRIND += ["--cachegrind-out-file=/dev/null"]


COUNTED = Figure("whole run, small sizes (instructions, valgrind)", "M", "", False)


@dataclass
class Tree:
    """A source tree to measure: where it is, what it is, and each figure's values."""

    label: str
    path: Path
    commit: str
    values: dict[tuple[str, str], list[float]] = field(default_factory=dict)


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def describe(path: Path, ref: str) -> str:
    """Short commit, its subject's start, and whether the folder has uncommitted changes."""
    line = git("log", "-1", "--format=%h %s", ref, cwd=path)
    dirty = (
        " + uncommitted changes"
        if git("status", "--porcelain", "--", "src", "bench", cwd=path)
        else ""
    )
    return (line[:70] + "…" if len(line) > 70 else line) + dirty


@contextlib.contextmanager
def checkout(ref: str, parent: Path, name: str) -> Iterator[Path]:
    """A detached worktree of ``ref`` for the duration; removed even when interrupted."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise SystemExit(f"no commit named '{ref}' in {ROOT} (a branch, tag or hash)")
    commit = found.stdout.strip()
    path = parent / name
    try:
        git("worktree", "add", "--detach", "--quiet", str(path), commit)
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True
        )
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)


def run_script(tree: Tree, bench: Bench, args: argparse.Namespace, logs: Path | None = None) -> str:
    """One run of ``bench``'s script from ``tree`` against ``tree``'s code; its stdout.

    With ``logs``, the run (its counted sizes) is under valgrind, each process logging to its own
    file there, since scripts swallow their children's stderr.
    """
    script = tree.path / "bench" / bench.script
    if not script.is_file():
        raise SystemExit(f"{tree.label} ({tree.commit}) has no bench/{bench.script}")
    sizes = bench.counted if logs else bench.quick if args.quick else bench.full
    command = [args.python, str(script), *sizes]
    if logs is not None:
        command = [*VALGRIND, f"--log-file={logs}/%p.log", *command]
    if args.cpu is not None:
        command = ["taskset", "--cpu-list", args.cpu, *command]
    env = {**os.environ, "PYTHONPATH": str(tree.path / "src")}
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=tree.path, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"bench/{bench.script} failed on {tree.label} ({tree.commit}):\n"
            f"{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime
    return f"{done.stdout}\n{WHOLE_RUN} {cpu:.3f} s\n"


def figures(bench: Bench, quick: bool) -> list[Figure]:
    """The script's own figures, the CPU time of its whole run (processes it waited for) and
    the instructions it executed (with --instructions)."""
    whole = Figure("whole run (CPU, user + system)", "s", rf"^{WHOLE_RUN} {NUMBER} s", False)
    return [*bench.figures(quick), whole, COUNTED]


def count(tree: Tree, bench: Bench, args: argparse.Namespace) -> None:
    """Instructions of one run of ``bench`` at its counted sizes, every process, by valgrind."""
    with tempfile.TemporaryDirectory(prefix="bench-compare-valgrind-") as logs:
        run_script(tree, bench, args, Path(logs))
        total = 0
        for log in Path(logs).glob("*.log"):
            found = re.findall(r"^==\d+== I\s+refs:\s+([\d,]+)", log.read_text(), re.MULTILINE)
            total += sum(int(n.replace(",", "")) for n in found)
    if total == 0:
        raise SystemExit(f"valgrind counted no instructions of bench/{bench.script}")
    tree.values.setdefault((bench.name, COUNTED.name), []).append(total / 1e6)


def record(tree: Tree, bench: Bench, output: str, quick: bool) -> None:
    """Read each figure from ``output`` into ``tree.values``; a missing one is an error."""
    for figure in figures(bench, quick):
        if figure is COUNTED:
            continue
        value = figure.read(output)
        if value is None and not figure.optional:
            raise SystemExit(
                f"bench/{bench.script} on {tree.label}: no '{figure.name}' in its output "
                f"(its format changed? update bench/compare_figures.py):\n{output}"
            )
        if value is not None:
            tree.values.setdefault((bench.name, figure.name), []).append(value)


def measure(trees: Sequence[Tree], benches: Sequence[Bench], args: argparse.Namespace) -> None:
    """``args.rounds`` rounds, each running every bench on both trees, the order flipping."""
    for number in range(args.rounds):
        order = trees if number % 2 == 0 else list(reversed(trees))
        for bench in benches:
            for tree in order:
                started = time.monotonic()
                output = run_script(tree, bench, args)
                record(tree, bench, output, args.quick)
                seconds = time.monotonic() - started
                print(
                    f"round {number + 1}/{args.rounds}: {bench.name:<9} {tree.label:<6} "
                    f"{seconds:5.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    for bench in benches if args.instructions else ():
        for tree in trees:
            started = time.monotonic()
            count(tree, bench, args)
            seconds = time.monotonic() - started
            print(
                f"instructions: {bench.name:<9} {tree.label:<6} {seconds:5.1f} s", file=sys.stderr
            )


def number(value: float) -> str:
    """Three significant figures or so, with thousands separators."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value else "0"


def spread(values: list[float]) -> float | None:
    """(max - min) / median over the rounds; None with one round or a zero median."""
    middle = statistics.median(values)
    if len(values) < 2 or middle == 0:
        return None
    return (max(values) - min(values)) / abs(middle)


def row(
    bench: Bench, figure: Figure, before: list[float], after: list[float], tolerance: float
) -> str:
    """One line of the table: medians, ratio, verdict, spread of each side."""
    old, new = statistics.median(before), statistics.median(after)
    ratio = new / old if old else math.inf
    worse = (1 / ratio - 1 if ratio else math.inf) if figure.higher_is_better else ratio - 1
    spreads = [spread(before), spread(after)]
    noise = " / ".join("–" if s is None else f"{s:.0%}" for s in spreads)
    noisy = any(s is not None and s > tolerance for s in spreads)
    verdict = "yes" if worse <= tolerance else f"**no** ({worse:+.0%})"
    if noisy:
        verdict += " (noisy)"
    better = "higher" if figure.higher_is_better else "lower"
    cells = [bench.name, figure.name, figure.unit, better, number(old), number(new)]
    cells += [f"{ratio:.2f}", verdict, noise]
    return "| " + " | ".join(cells) + " |"


def table(before: Tree, after: Tree, benches: Sequence[Bench], args: argparse.Namespace) -> str:
    """The Markdown table of every figure both trees printed."""
    tolerance = args.tolerance
    lines = [
        f"| benchmark | figure | unit | better | before | after | after/before "
        f"| within {tolerance:.0%} | spread before / after |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for bench in benches:
        for figure in figures(bench, args.quick):
            key = (bench.name, figure.name)
            if key in before.values and key in after.values:
                lines.append(row(bench, figure, before.values[key], after.values[key], tolerance))
    return "\n".join(lines)


def heading(before: Tree, after: Tree, args: argparse.Namespace) -> str:
    mode = "quick sizes" if args.quick else "the scripts' default sizes"
    pinned = f", pinned to CPU {args.cpu}" if args.cpu is not None else ""
    return (
        f"before: `{before.commit}`  \nafter: `{after.commit}`  \n"
        f"median of {args.rounds} round(s), before and after alternated in one sitting, "
        f"{mode}{pinned}; {os.cpu_count()} CPUs, load average {args.load:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end; "
        "spread = (max - min) / median over the rounds\n"
    )


def choose(names: str | None) -> list[Bench]:
    """The benches named (comma-separated), or every one this machine can run."""
    by_name = {bench.name: bench for bench in BENCHES}
    if names is None:
        return [bench for bench in BENCHES if bench.available()]
    chosen = []
    for name in names.split(","):
        if name not in by_name:
            raise SystemExit(f"no benchmark '{name}'; choose from {', '.join(by_name)}")
        if not by_name[name].available():
            raise SystemExit(f"'{name}' cannot run here (see bench/{by_name[name].script})")
        chosen.append(by_name[name])
    return chosen


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=ROUND_START, help=f"git ref (default {ROUND_START})")
    parser.add_argument("--after", help="git ref or folder (default: this working tree)")
    parser.add_argument("--bench", help="comma-separated: " + ",".join(b.name for b in BENCHES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes, not hours)")
    parser.add_argument("--cpu", help="run every script under taskset --cpu-list CPU")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count each script's instructions under valgrind (one quick run per tree; "
        "slow, but not moved by other work on the machine)",
    )
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--python", default=sys.executable, help="the Python for both trees")
    parser.add_argument("--json", type=Path, help="also write every value of every round here")
    args = parser.parse_args(argv)
    args.load = os.getloadavg()[0]
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that the worktrees are removed as on Ctrl-C


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    benches = choose(args.bench)
    signal.signal(signal.SIGTERM, _terminate)
    with (
        tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        before_path = stack.enter_context(checkout(args.before, Path(tmp), "before"))
        before = Tree("before", before_path, describe(before_path, "HEAD"))
        if args.after is None or Path(args.after).is_dir():
            after_path = Path(args.after).resolve() if args.after else ROOT
        else:
            after_path = stack.enter_context(checkout(args.after, Path(tmp), "after"))
        after = Tree("after", after_path, describe(after_path, "HEAD"))
        for tree in (before, after):  # byte-compile first, as an install does
            subprocess.run(
                [args.python, "-m", "compileall", "-q", str(tree.path / "src")], check=True
            )
        failed = None
        try:
            measure([before, after], benches, args)
        except SystemExit as failure:  # a script failed: still show what was measured
            failed = failure
    print(heading(before, after, args))
    print(table(before, after, benches, args))
    if args.json is not None:
        values = {
            tree.label: {" / ".join(key): v for key, v in tree.values.items()}
            for tree in (before, after)
        }
        args.json.write_text(
            json.dumps({"commits": [before.commit, after.commit], **values}, indent=1)
        )
    if failed is not None:
        raise failed


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("interrupted; the temporary worktrees are removed") from None
