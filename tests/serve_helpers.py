"""`digest serve` as its own process, as its unit runs it: started on a free port and
waited for until it answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def start_serve(
    config: Path, port: int, *options: str, verbose: bool = False, **popen: Any
) -> subprocess.Popen[Any]:
    """`digest --config CONFIG [-v] serve --port PORT OPTIONS...` in a new process."""
    command = [sys.executable, "-m", "newsletter_digest", "--config", str(config)]
    command += [*(["-v"] if verbose else []), "serve", "--port", str(port), *options]
    return subprocess.Popen(command, **popen)


def wait_until_serving(
    port: int,
    process: subprocess.Popen[Any] | None = None,
    timeout: float = 20,
    headers: dict[str, str] | None = None,
) -> None:
    """Until the server on 127.0.0.1:PORT answers /healthz; fail if its process ended."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", headers=headers, timeout=2)
            return
        except httpx.TransportError:
            if process is not None and process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"digest serve ended: {output}") from None
            assert time.monotonic() < deadline, "digest serve did not start"
            time.sleep(0.05)
