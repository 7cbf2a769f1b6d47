"""Peak memory of `digest send` for a large recipients file, streamed over SMTP to a local
sink in another process, and into the per_recipient pickup folder.

Usage: python bench/bench_memory.py [--recipients 100000] [--mode smtp|pickup|both]
"""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_build import make_project

SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
sys.stdin.read()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(recipients: int, mode: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = make_project(root, 8)
        (root / "readers.txt").write_text(
            "".join(f"reader{n}@example.org\n" for n in range(recipients))
        )
        sink = None
        text = config.read_text().replace("recipients: [reader@example.org]\n", "")
        text += "recipients_file: readers.txt\n"
        if mode == "smtp":
            port = free_port()
            sink = subprocess.Popen(
                [sys.executable, "-c", SINK, str(port)], stdin=subprocess.PIPE, text=True
            )
            time.sleep(1.0)
            text += f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n"
        else:
            text += "per_recipient: true\n"
        config.write_text(text)
        digest = [sys.executable, "-m", "newsletter_digest", "--config", str(config)]
        subprocess.run([*digest, "build", "--no-send"], check=True, capture_output=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        done = subprocess.run([*digest, "send"], capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if sink is not None:
            sink.communicate("")
        summary = done.stdout.strip().splitlines()[0] if done.stdout else done.stderr[-300:]
        print(
            f"{mode:>6}: {recipients:,} recipients in {wall:.1f} s "
            f"({recipients / wall:,.0f}/s), peak RSS of digest send "
            f"{max(peak, before) / 1024:.0f} MB"
        )
        print(f"        {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--mode", choices=["smtp", "pickup", "both"], default="both")
    args = parser.parse_args()
    for mode in ("smtp", "pickup") if args.mode == "both" else (args.mode,):
        run(args.recipients, mode)


if __name__ == "__main__":
    main()
