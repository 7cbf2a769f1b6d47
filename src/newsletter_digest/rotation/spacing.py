"""Spacing (pure): how many issues an excerpt stays away after it was shown.

The rule readers expect: an excerpt does not come back in the issue right after the one that
showed it, and in a large pool not for a good while. With an issue taking ``count`` from a
pool of ``P`` excerpts, an excerpt stays away for at least

    ``gap = max(2, floor(P / (2 * count)))`` issues

(shown in issue ``n``, it is next in issue ``n + gap`` or later), and that is guaranteed
when ``P >= 2 * count``. A heavy excerpt is due more often: its ``P`` is the cycle's
showings over its weight when that is fewer than the excerpts (with equal weights it is the
number of excerpts again). Why half the pool: the excerpts shown in the last ``gap - 1``
issues are then at most half of it, so at least ``count`` others are always free to fill an
issue, and waiting never holds a cycle up. A smaller pool still prefers excerpts that were
not in the last issues, but there the cycles come first.
"""

from __future__ import annotations

from collections.abc import Sequence

from newsletter_digest.models import Pick


def pool_for(weights: Sequence[int], weight: int) -> int:
    """The pool an excerpt of ``weight`` is spaced by: the excerpts, or the cycle's showings
    over its weight if that is fewer (a heavy excerpt comes round more often)."""
    return min(len(weights), sum(weights) // weight)


def gaps(weights: Sequence[int], count: int) -> list[int]:
    """Each excerpt's gap: issues from one showing to the next, at the least."""
    return [max(2, pool_for(weights, weight) // (2 * count)) for weight in weights]


def issues_since(seen: Sequence[Sequence[Pick]], horizon: int) -> dict[str, int]:
    """How many issues ago each excerpt was last shown (1: the last issue), ``horizon`` back.

    ``seen`` holds every past issue's picks in any section, oldest first, one entry per issue
    (empty ones too), so that an excerpt shown in another section still counts.
    """
    since: dict[str, int] = {}
    for ago in range(1, min(horizon, len(seen)) + 1):
        for pick in seen[-ago]:
            since.setdefault(pick.excerpt_id, ago)
    return since
