"""Importing sources: a feed of N entries from a file, and a refresh that finds nothing new
(a conditional GET answered 304 by a local server), each timed, best of --runs.

Usage: python bench/bench_import.py [--entries 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.server
import tempfile
import threading
import time
from pathlib import Path

from newsletter_digest.content.importers import import_source


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = feed_xml(args.entries)
    best = float("inf")
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "feed.xml"
            path.write_bytes(data)
            started = time.perf_counter()
            report = import_source(path, Path(folder) / "content")
            best = min(best, time.perf_counter() - started)
            assert len(report.written) == args.entries
    print(f"feed of {args.entries:,} entries from a file: {best:.2f} s (best of {args.runs})")
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
