"""Build N issues from a content folder of M excerpts; print issues per second and peak memory.

Each size runs in its own process so peak memory (max RSS) belongs to that size alone.
Usage: python bench/bench_build.py [--issues N] [--sizes 8,10000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def make_project(root: Path, excerpts: int) -> Path:
    """A project with ``excerpts`` files spread over a few sources."""
    content = root / "content"
    content.mkdir()
    for n in range(excerpts):
        (content / f"excerpt-{n:05d}.md").write_text(
            f"---\ntitle: Excerpt number {n}\nurl: https://example.org/{n}\n"
            f"source: source-{n % 7}\nauthor: Author {n % 13}\n---\n"
            f"Every successful application eventually outgrows its original architecture. "
            f"What started as a clean monolith becomes a **tangled** web number {n}…\n",
            encoding="utf-8",
        )
    config = root / "digest.yaml"
    config.write_text(
        'title: Bench Weekly\nsender: "Bench <bench@example.org>"\n'
        "recipients: [reader@example.org]\nunsubscribe: https://example.org/u\n",
        encoding="utf-8",
    )
    return config


def run_one(excerpts: int, issues: int) -> dict[str, float]:
    """Measure in this process: first build (cold cache), then ``issues`` more builds."""
    from newsletter_digest.app.issues import build
    from newsletter_digest.config.loading import load_config

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(make_project(Path(tmp), excerpts))
        now = datetime.now().astimezone()
        start = time.perf_counter()
        build(config, now)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(issues):
            build(config, now)
        warm = time.perf_counter() - start
    return {
        "excerpts": excerpts,
        "issues": issues,
        "cold_ms": cold * 1000,
        "issues_per_s": issues / warm,
        "ms_per_issue": warm * 1000 / issues,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--issues", type=int, default=50)
    parser.add_argument("--sizes", default="8,1000,10000")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run_one(args.child, args.issues)))
        return
    print(
        f"{'excerpts':>9} {'issues':>7} {'first build':>12} {'issues/s':>9} "
        f"{'ms/issue':>9} {'peak RSS':>9}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--issues", str(args.issues)],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:  # its own words, not only "exit status 1"
            raise SystemExit(
                f"the build of {size} excerpts failed (exit {child.returncode}):\n"
                f"{child.stdout[-2000:]}{child.stderr[-3000:]}"
            )
        r = json.loads(child.stdout)
        print(
            f"{r['excerpts']:>9} {r['issues']:>7} {r['cold_ms']:>10.1f}ms "
            f"{r['issues_per_s']:>9.1f} {r['ms_per_issue']:>9.2f} {r['peak_rss_mb']:>7.1f}MB"
        )


if __name__ == "__main__":
    main()
