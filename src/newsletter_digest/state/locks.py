"""A process lock beside the state database, so two senders never work on one issue.

``flock`` is released by the kernel when the holder dies (even by kill -9), so a crashed run
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter_digest.errors import DigestError
from newsletter_digest.files import PRIVATE_FILE, private_folder


class LockedError(DigestError):
    """Another digest process holds the lock."""


@contextmanager
def process_lock(state_path: Path, name: str) -> Iterator[None]:
    """Hold ``<state>.<name>.lock`` for the duration, or fail at once if someone else does."""
    path = state_path.with_name(f"{state_path.name}.{name}.lock")
    private_folder(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise LockedError(
                f"another digest {name} is running (pid {holder})",
                f"wait for it to finish; the lock is {path}",
            ) from e
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
