"""A render cache: results of pure renderings kept for the life of one Renderer.

Rendering a body's Markdown or inlining CSS into a fragment gives the same result for the
same input, and an issue sent to many readers, or a preview rendered on every save, asks
for the same ones again. The cache is an object the renderer owns (or is handed), never
module state, so two renderers never share or leak results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from newsletter_digest.render import markdown, styles

K = TypeVar("K")
V = TypeVar("V")


class RenderCache:
    """Rendered Markdown bodies and CSS-inlined fragments, at most ``limit`` of each."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._markdown: dict[str, markdown.Rendered] = {}
        self._inlined: dict[tuple[str, str], str] = {}

    def markdown(self, body: str) -> markdown.Rendered:
        """``body`` rendered to safe HTML and plain text (markdown.render)."""
        return self._get(self._markdown, body, markdown.render)

    def inline_css(self, html: str, css: str) -> str:
        """``css`` written into the style attributes of the fragment ``html``."""
        return self._get(self._inlined, (html, css), lambda key: styles.inline_fragment(*key))

    def _get(self, table: dict[K, V], key: K, make: Callable[[K], V]) -> V:
        try:
            return table[key]
        except KeyError:
            pass
        value = make(key)
        if len(table) >= self._limit:
            del table[next(iter(table))]  # the oldest
        table[key] = value
        return value
