"""Fully personalised bodies: each recipient gets their own excerpts, so every message is
rendered (Jinja2 -> MRML -> CSS inlining) and serialised on its own.

Measures, in one run: the naive path (a new Renderer, i.e. a new Jinja2 environment and
freshly compiled templates, plus a fresh EmailMessage per recipient), the fast path on one
core (one Renderer for the run, MessageFactory per message), and the fast path on a process
pool over every core (MRML holds the GIL, so threads would not help).

Usage: python bench/bench_personal.py [--recipients 2000]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path

from naive import naive_message
from newsletter_digest.mail.compose import MessageFactory
from newsletter_digest.models import Excerpt, IssueInfo
from newsletter_digest.render.personal import fill_text, personalize, unsubscribe_template
from newsletter_digest.render.renderer import Branding, Renderer

SENDER = "Bench Weekly <bench@example.org>"
UNSUBSCRIBE = unsubscribe_template("https://example.org/unsubscribe?email={email}")
BRANDING = Branding(title="Bench Weekly", sender=SENDER, unsubscribe=UNSUBSCRIBE)
ISSUE = IssueInfo(7, date(2026, 11, 30))
WHEN = datetime(2026, 11, 30, 9, 0).astimezone()
POOL = [
    Excerpt(
        id=f"e{n}",
        title=f"Excerpt {n}: why the database is the bottleneck",
        body=f"If your web application is slow, the database is almost certainly the "
        f"bottleneck. Not the frontend framework. **Not the network.** Part {n}…",
        path=Path(f"e{n}.md"),
        url=f"https://example.org/posts/{n}",
        source=f"source-{n % 5}",
    )
    for n in range(40)
]


def own_excerpts(index: int) -> list[Excerpt]:
    """A different three excerpts for each reader (as per-reader rotation would pick)."""
    return [POOL[(index * 7 + k * 13) % len(POOL)] for k in range(3)]


def reader(index: int) -> str:
    return f"reader{index}@example.org"


def naive(index: int) -> bytes:
    renderer = Renderer(None, BRANDING)  # a new environment per message
    rendered = personalize(renderer.render(ISSUE, own_excerpts(index)), reader(index))
    assert UNSUBSCRIBE is not None
    msg = naive_message(
        rendered,
        sender=SENDER,
        recipient=reader(index),
        date=WHEN,
        message_id=f"<{index}.bench@example.org>",
        unsubscribe=fill_text(UNSUBSCRIBE, reader(index)),
    )
    return msg


_renderer: Renderer | None = None


def fast(index: int) -> bytes:
    global _renderer
    if _renderer is None:
        _renderer = Renderer(None, BRANDING)  # once per process
    rendered = _renderer.render(ISSUE, own_excerpts(index))
    factory = MessageFactory(rendered, sender=SENDER, date=WHEN, unsubscribe=UNSUBSCRIBE)
    return factory.message(reader(index), f"<{index}.bench@example.org>")


def fast_chunk(indexes: range) -> int:
    return sum(len(fast(i)) for i in indexes)


def chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=2000)
    args = parser.parse_args()
    n = args.recipients

    naive_n = max(50, n // 20)
    start = time.process_time()
    for i in range(naive_n):
        naive(i)
    naive_rate = naive_n / (time.process_time() - start)

    fast(0)  # compile the templates outside the measurement, as a long run would
    start = time.process_time()
    for i in range(n):
        fast(i)
    fast_rate = n / (time.process_time() - start)

    workers = os.cpu_count() or 1
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        sum(pool.map(fast_chunk, chunks(n, 200)))
    pool_rate = n / (time.perf_counter() - start)

    print(f"naive (new environment + EmailMessage): {naive_rate:7,.0f} messages/s on one core")
    print(
        f"fast (one Renderer + MessageFactory):   {fast_rate:7,.0f} messages/s on one core "
        f"({fast_rate / naive_rate:.1f}x)"
    )
    print(
        f"fast on a pool of {workers} processes:         {pool_rate:7,.0f} messages/s wall clock "
        "(start-up included)"
    )


if __name__ == "__main__":
    main()
