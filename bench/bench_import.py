"""Importing sources: a feed of N entries from a file, and a refresh that finds nothing new
(a conditional GET answered 304 by a local server).

The import writes one file per entry, so on a slow disk its time is mostly the disk's. Each
round, side by side, it also times the disk alone (creating and syncing as many files of the
same size in a fresh folder), and gives the import's CPU time; folders are removed only at
the end, so one round's deletions do not slow the next.

Usage: python bench/bench_import.py [--entries 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from newsletter_digest.content.importers import import_source
from newsletter_digest.files import fsync_dir, fsync_files


def feed_xml(entries: int) -> bytes:
    items = "".join(
        f"<item><title>Entry {i}</title><link>https://example.org/{i}</link>"
        f"<guid>https://example.org/{i}</guid><pubDate>Mon, 03 Mar 2025 09:15:02 GMT</pubDate>"
        f"<description>&lt;p&gt;Entry {i} says something &lt;b&gt;bold&lt;/b&gt;. "
        "More text follows here.&lt;/p&gt;</description></item>"
        for i in range(entries)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://example.org/</link>{items}</channel></rss>"
    ).encode()


class Feed(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def disk_alone(folder: Path, count: int, size: int) -> float:
    """Seconds to create and sync ``count`` files of ``size`` bytes: what the disk costs."""
    folder.mkdir()
    data = b"x" * size
    started = time.perf_counter()
    paths = [folder / f"{number}.md" for number in range(count)]
    for path in paths:
        path.write_bytes(data)
    fsync_files(paths)  # as the import makes its files durable
    fsync_dir(folder)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = feed_xml(args.entries)
    walls: list[float] = []
    users: list[float] = []
    systems: list[float] = []
    disks: list[float] = []
    with tempfile.TemporaryDirectory() as parent:
        path = Path(parent) / "feed.xml"
        path.write_bytes(data)
        for round_ in range(args.runs):
            content = Path(parent) / f"content-{round_}"
            started, before = time.perf_counter(), os.times()
            report = import_source(path, content)
            walls.append(time.perf_counter() - started)
            after = os.times()
            users.append(after.user - before.user)
            systems.append(after.system - before.system)
            assert len(report.written) == args.entries
            size = sum(p.stat().st_size for p in report.written) // args.entries
            disks.append(disk_alone(Path(parent) / f"disk-{round_}", args.entries, size))
    print(
        f"feed of {args.entries:,} entries from a file: best {min(walls):.2f} s, "
        f"median {statistics.median(walls):.2f} s (CPU: user {statistics.median(users):.2f} s, "
        f"system {statistics.median(systems):.2f} s)"
    )
    print(
        f"  the disk alone, {args.entries:,} files of the same size: best {min(disks):.2f} s, "
        f"median {statistics.median(disks):.2f} s; import minus disk, median "
        f"{statistics.median(w - d for w, d in zip(walls, disks, strict=True)):.2f} s"
    )
    Feed.body = feed_xml(20)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    with tempfile.TemporaryDirectory() as folder:
        first = import_source(url, Path(folder) / "content")
        times = []
        for _ in range(20):
            started = time.perf_counter()
            again = import_source(url, Path(folder) / "content", etag=first.etag)
            times.append(time.perf_counter() - started)
            assert again.not_modified
    server.shutdown()
    print(f"refresh that finds nothing new (304 on 127.0.0.1): {min(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
