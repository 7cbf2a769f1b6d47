"""Messages per second for one issue sent to many recipients: the naive path (a fresh
EmailMessage per recipient with the whole body set) beside the fast path (MessageFactory:
bodies encoded once, a few headers per recipient), measured in the same run on one core.

Usage: python bench/bench_messages.py [--recipients 5000] [--personal]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

from naive import naive_message
from newsletter_digest.mail.compose import MessageFactory
from newsletter_digest.models import Excerpt, IssueInfo, RenderedIssue
from newsletter_digest.render.personal import fill_text, personalize, unsubscribe_template
from newsletter_digest.render.renderer import Branding, Renderer

SENDER = "Bench Weekly <bench@example.org>"
UNSUBSCRIBE = "https://example.org/unsubscribe?email={email}"


def rendered_issue() -> RenderedIssue:
    """A real three-excerpt issue from the default templates."""
    excerpts = [
        Excerpt(
            id=f"e{n}",
            title=f"Why the database is the bottleneck, part {n}",
            body="If your web application is slow, the database is almost certainly the "
            "bottleneck. Not the frontend framework. Not the web server. **The database.**\n\n"
            "I have spent nine years building backend systems…",
            path=Path(f"e{n}.md"),
            url=f"https://example.org/posts/{n}",
            author="Ada",
            source="example.org",
        )
        for n in range(3)
    ]
    branding = Branding(
        title="Bench Weekly",
        sender=SENDER,
        unsubscribe=unsubscribe_template(UNSUBSCRIBE),
        footer="1 Main Street, Springfield",
    )
    return Renderer(None, branding).render(IssueInfo(7, datetime.now().date()), excerpts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=5000)
    args = parser.parse_args()
    rendered = rendered_issue()
    date = datetime.now().astimezone()
    readers = [f"reader{n}@example.org" for n in range(args.recipients)]
    unsubscribe = unsubscribe_template(UNSUBSCRIBE)
    assert unsubscribe is not None

    naive_n = max(200, args.recipients // 10)
    start = time.process_time()
    for n, reader in enumerate(readers[:naive_n]):
        naive_message(
            personalize(rendered, reader),
            sender=SENDER,
            recipient=reader,
            date=date,
            message_id=f"<{n}.bench@example.org>",
            unsubscribe=fill_text(unsubscribe, reader),
        )
    naive = naive_n / (time.process_time() - start)

    start = time.process_time()
    factory = MessageFactory(rendered, sender=SENDER, date=date, unsubscribe=unsubscribe)
    size = 0
    for n, reader in enumerate(readers):
        size += len(factory.message(reader, f"<{n}.bench@example.org>"))
    fast = len(readers) / (time.process_time() - start)

    print(f"message size:          {size // len(readers):,} bytes (personal unsubscribe link)")
    print(f"naive EmailMessage:    {naive:8,.0f} messages/s  ({1000 / naive:.2f} ms each)")
    print(f"MessageFactory:        {fast:8,.0f} messages/s  ({1000 / fast:.3f} ms each)")
    print(f"ratio:                 {fast / naive:8.1f}x   (CPU time of this one process)")


if __name__ == "__main__":
    main()
