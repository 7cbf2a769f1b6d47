"""Send one issue to N recipients through a local aiosmtpd sink; print messages per second
and the client's CPU time per message.

Usage: python bench/bench_smtp.py [--recipients 1000]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).parent))
from bench_build import make_project


class Sink:
    """Counts messages and forgets them."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        with self.lock:
            self.count += 1
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1000)
    args = parser.parse_args()

    from newsletter_digest.app.issues import build
    from newsletter_digest.app.sending import send_issue
    from newsletter_digest.config.loading import load_config

    sink = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config_path = make_project(Path(tmp), 8)
            readers = Path(tmp) / "readers.txt"
            readers.write_text("".join(f"reader{n}@example.org\n" for n in range(args.recipients)))
            config_path.write_text(
                config_path.read_text().replace("recipients: [reader@example.org]\n", "")
                + f"recipients_file: readers.txt\nsmtp:\n  host: 127.0.0.1\n  port: {port}\n"
                "  security: none\n"
            )
            config = load_config(config_path)
            build(config, datetime.now().astimezone())
            # The sink runs in its own thread; thread_time counts the client's thread alone.
            cpu0 = time.thread_time()
            start = time.perf_counter()
            report = send_issue(config)
            wall = time.perf_counter() - start
            cpu = time.thread_time() - cpu0
    finally:
        controller.stop()
    print(f"recipients:          {report.total} ({report.sent} sent, sink counted {sink.count})")
    print(f"wall time:           {wall:.2f} s")
    print(f"messages per second: {report.sent / wall:.0f}")
    print(f"client CPU/message:  {cpu * 1000 / max(report.sent, 1):.2f} ms")


if __name__ == "__main__":
    main()
