"""Spacing (pure): how many issues an excerpt stays away after it was shown.

The rule readers expect: an excerpt does not come back in the issue right after the one that
showed it, and in a large pool not for a good while. For a pool whose cycle holds ``W``
showings (the sum of the weights; the number of excerpts when every weight is 1) and an
issue that takes ``count`` of them, an excerpt of weight ``w`` stays away for at least

    ``max(2, floor(W / (2 * count * w)))`` issues

(shown in issue ``n``, it is next in issue ``n + gap`` or later), which is guaranteed when
``W >= 2 * count * w``. Half the excerpt's average interval: the other half is the room the
rotation needs to keep every cycle whole when the pool changes or a cycle turns over. A
pool below that still prefers excerpts that were not in the last issues, but a cycle is
never held up for it.
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
