"""A clean stop on SIGTERM or Ctrl-C: a flag checked between steps, never mid-write.

Process-wide by nature (signal handlers are), so it lives at the ground, where the send
loop and the scheduler both use it without knowing of each other.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Signal handlers are process-wide: every active stop_on_signals() block is told.
_STOP_FLAGS: list[threading.Event] = []


def _stop_all(*_: object) -> None:
    for flag in _STOP_FLAGS:
        flag.set()


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """Turn SIGTERM and SIGINT into a flag checked between messages, never mid-write.

    Nested uses all see the signal: the scheduler around a send stops too, not only the send.
    """
    stop = threading.Event()
    previous: dict[signal.Signals, object] = {}
    if threading.current_thread() is threading.main_thread():
        _STOP_FLAGS.append(stop)
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _stop_all)
    try:
        yield stop.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        if stop in _STOP_FLAGS:
            _STOP_FLAGS.remove(stop)
