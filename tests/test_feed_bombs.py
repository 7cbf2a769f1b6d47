"""Compressed feed bombs from a server on 127.0.0.1: a body of a few kilobytes that a
Content-Encoding (or two) turns into gigabytes. `digest import` runs in its own process so
its peak memory can be measured."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_importers import SOURCES

pytestmark = pytest.mark.timeout(120)
FEED = (SOURCES / "feed.xml").read_bytes()


def gzipped(chunks: Iterator[bytes]) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return b"".join(packer.compress(chunk) for chunk in chunks) + packer.flush()


def zeros(mib: int) -> Iterator[bytes]:
    return (bytes(1 << 20) for _ in range(mib))


class Coded(http.server.ThreadingHTTPServer):
    """Answers every GET with ``body`` sent under ``encoding``."""

    def __init__(self, body: bytes, encoding: str) -> None:
        self.body, self.encoding = body, encoding
        super().__init__(("127.0.0.1", 0), _Coded)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/feed.xml"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Coded(http.server.BaseHTTPRequestHandler):
    server: Coded

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Encoding", self.server.encoding)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client stopped reading, as it should
            self.wfile.write(self.server.body)

    def log_message(self, *args: object) -> None:
        pass


# `digest import` run as the CLI runs it; at exit it writes its own peak memory (VmHWM,
# this process's high-water mark: ru_maxrss would start at the forked test runner's size).
_IMPORT = """
import atexit, re, sys
report = sys.argv[1]
def peak():
    status = open("/proc/self/status").read()
    kib = int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1))
    open(report, "w").write(str(kib // 1024))
atexit.register(peak)
from newsletter_digest.cli import main
sys.argv = ["digest", "--config", "digest.yaml", "import", sys.argv[2]]
main()
"""


def import_measured(project: Path, url: str) -> tuple[int, str, int]:
    """`digest import URL` in a process of its own: exit code, output, peak RSS in MiB."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    peak = project / "peak-mib"
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT, str(peak), url],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=110,
        check=False,
    )
    return done.returncode, done.stdout.decode(), int(peak.read_text())


@pytest.fixture
def served() -> Iterator[list[Coded]]:
    servers: list[Coded] = []
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("encoding", ["gzip, gzip", "gzip"])
def test_a_compressed_bomb_is_refused_in_bounded_memory(
    project: Path, served: list[Coded], encoding: str
) -> None:
    """512 MiB of zeros, gzipped once (500 KB sent) or twice (a 1 KB body)."""
    body = gzipped(zeros(512))
    if encoding == "gzip, gzip":
        body = gzipped(iter([body]))
    served.append(Coded(body, encoding))
    code, output, peak_mib = import_measured(project, served[0].url)
    assert code == 1, output
    assert peak_mib < 150, f"peak memory {peak_mib} MiB"
    assert "Traceback" not in output
    assert ("larger than 10 MB" in output) or ("'gzip, gzip', which is not read" in output)
    assert not list((project / "content").glob("*example*"))


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
def test_a_feed_sent_compressed_is_imported(
    project: Path, served: list[Coded], encoding: str
) -> None:
    coded = {"gzip": gzip.compress, "deflate": zlib.compress}.get(encoding, bytes)(FEED)
    served.append(Coded(coded, encoding))
    before = set((project / "content").iterdir())
    code, output, _ = import_measured(project, served[0].url)
    assert code == 0, output
    assert set((project / "content").iterdir()) - before
