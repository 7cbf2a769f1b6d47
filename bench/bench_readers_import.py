"""`digest readers import` of a listmonk-style export of N readers, through the real CLI in
its own process, beside a baseline on the same machine and file: the raw rate of reading
the CSV with the csv module and writing its rows with one sqlite3 executemany (the same
table, no checks), in its own process too. Each gives rows/s and peak RSS (from wait4), so
the ratio says how much the import's checks and two passes cost.

Then the same import again (every reader already known), which is what a nightly re-import
of a full export costs.

Usage: python bench/bench_readers_import.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "uuid,email,name,attributes,status,created_at,updated_at\n"
BASELINE = """
import csv, sqlite3, sys
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA synchronous = NORMAL")
conn.executescript('''
CREATE TABLE readers (id INTEGER PRIMARY KEY, address TEXT NOT NULL, key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL, status TEXT NOT NULL, consent_at TEXT);
CREATE INDEX readers_status ON readers(status);
''')
with open(sys.argv[1], encoding="utf-8", newline="") as handle:
    rows = csv.reader(handle)
    next(rows)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT OR IGNORE INTO readers (address, key, name, status, consent_at)"
        " VALUES (?, ?, ?, ?, ?)",
        ((r[1], r[1].lower(), r[2], r[4], r[5]) for r in rows),
    )
    conn.execute("COMMIT")
"""


def write_export(path: Path, rows: int) -> None:
    """A listmonk subscribers export: 1 in 50 blocklisted, names with commas and quotes."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for start in range(0, rows, 10_000):
            handle.write(
                "".join(
                    f"{n:08x}-7c1e-4d2a-9f3b-5e6a7b8c9d0e,reader{n}@example{n % 97}.org,"
                    f'"Reader {n}, ""R{n % 10}""","{{""city"": ""Paris""}}",'
                    f"{'blocklisted' if n % 50 == 0 else 'enabled'},"
                    "2024-01-02 03:04:05.678+00,2024-01-02 03:04:05.678+00\n"
                    for n in range(start, min(start + 10_000, rows))
                )
            )


def timed(command: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one child process; it must succeed."""
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
    if status != 0:
        raise SystemExit(f"{command[3:]} failed:\n{out.decode()[-2000:]}{err.decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        export = root / "subscribers.csv"
        write_export(export, rows)
        (root / "digest.yaml").write_text("title: Bench\nsender: news@example.org\n")
        size = export.stat().st_size / 2**20
        print(f"{rows:,} rows, {size:.0f} MB of CSV", flush=True)
        python = [sys.executable]
        base = timed([*python, "-c", BASELINE, str(export), str(root / "baseline.db")])
        cli = [*python, "-m", "newsletter_digest", "--config", str(root / "digest.yaml")]
        first = timed([*cli, "readers", "import", str(export)])
        again = timed([*cli, "readers", "import", str(export)])
    print(f"{'':<44}{'seconds':>9}{'rows/s':>10}{'peak RSS':>10}")
    for label, (seconds, rss) in (
        ("baseline: csv.reader + one executemany", base),
        ("digest readers import (new book)", first),
        ("digest readers import (again: all known)", again),
    ):
        print(f"{label:<44}{seconds:>9.1f}{rows / seconds:>10,.0f}{rss:>8.0f} MB")
    ratios = f"{base[0] / first[0]:.2f} (new), {base[0] / again[0]:.2f} (again)"
    print(f"import / baseline rate: {ratios}")


if __name__ == "__main__":
    main()
