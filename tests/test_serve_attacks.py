"""`digest serve` against a hostile client, on a real uvicorn on 127.0.0.1: what one stranger
can do to a reader who wants to leave while an issue is being built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from conftest import wait_for
from test_serve import (
    ONE_CLICK,
    Running,
    configure,
    hold_write_lock,
    reader_and_token,
    status,
)

pytestmark = pytest.mark.timeout(120)
Digest = Callable[..., Result]


def test_sign_ups_under_a_build_lock_do_not_hold_up_a_one_click_unsubscribe(
    project: Path, digest: Digest
) -> None:
    """Ten sign-ups from one stranger, sent while a build holds the book's lock, each wait for
    the lock; a reader's one-click unsubscribe sent after them is still answered at once."""
    configure(project, "serve:\n  subscribe: true\n")
    assert digest("build").exit_code == 0
    _, token = reader_and_token(project)
    running = Running(project)
    holder = hold_write_lock(project)
    base = f"http://127.0.0.1:{running.port}"
    answers: list[int] = []

    def sign_up(n: int) -> None:
        form = {"email": f"walk-in-{n}@example.net", "name": "x"}
        answers.append(httpx.post(f"{base}/subscribe", data=form, timeout=60).status_code)

    waiting = [threading.Thread(target=sign_up, args=(n,)) for n in range(10)]
    try:
        for thread in waiting:
            thread.start()
        time.sleep(1.0)  # the sign-ups are waiting for the lock
        asked = time.monotonic()
        leave = httpx.post(f"{base}/unsubscribe/{token}", data=ONE_CLICK, timeout=60)
        took = time.monotonic() - asked
        assert leave.status_code == 200, leave.text
        assert took < 5, f"the one-click unsubscribe took {took:.1f} s"
    finally:
        holder.rollback()  # the build ends
        holder.close()
        for thread in waiting:
            thread.join(60)
        running.stop()
    wait_for(lambda: status(project) == "unsubscribed", 10)


@pytest.mark.parametrize("size", [20_000, 100_000])
def test_a_request_head_over_the_limit_is_refused_whole_or_in_pieces(
    project: Path, digest: Digest, size: int
) -> None:
    """A head over 16 KiB is refused, whether it arrives in one read (431 from the app) or
    in pieces (h11's own 400), and the reader stays as they were; normal heads still pass."""
    configure(project)
    _, token = reader_and_token(project)
    served = Running(project)
    try:
        big = {"X-Padding": "a" * size}
        answer = served.client.post(f"/unsubscribe/{token}", data=ONE_CLICK, headers=big)
        assert answer.status_code in (400, 431)
        assert status(project) == "active"
        normal = served.client.get("/healthz", headers={"X-Padding": "a" * 8_000})
        assert normal.status_code == 200
        assert served.client.post(f"/unsubscribe/{token}", data=ONE_CLICK).status_code == 200
    finally:
        served.stop()
    assert status(project) == "unsubscribed"
