"""CSS inlining with css-inline, for mail clients that drop <style>: two ways in.

- The ``inline_css`` template filter styles one HTML fragment (an excerpt's body, the
  footer) with the CSS it is given. A fragment recurs across issues and, with per-reader
  excerpts, across messages, so the renderer caches the result (render/cache.py):
  a few microseconds per message.
- ``<mj-style inline="inline">`` blocks, as in MJML: MRML leaves them in a <style> tag, so
  :class:`DocumentInliner` applies them to the whole compiled document, which costs most of
  a millisecond for every message rendered. The shipped templates use the filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

if TYPE_CHECKING:
    import css_inline

__all__ = [
    "DocumentInliner",
    "InlineCSSError",
    "inline_css",
    "inline_fragment",
    "split_inline_styles",
]

_INLINE_STYLE = re.compile(
    r"""<mj-style\b[^>]*?\binline\s*=\s*["']inline["'][^>]*>(.*?)</mj-style\s*>""",
    re.DOTALL | re.IGNORECASE,
)
# The fragment goes in one <div> for css-inline; CSS that matches it (``*``, ``div``) gives
# that div a style attribute, so it is taken off by pattern, not by its exact text.
_WRAPPED = re.compile(r"\A<div\b[^>]*>(.*)</div>\Z", re.DOTALL)


class InlineCSSError(ValueError):
    """CSS that css-inline cannot apply; the message says which rules and why."""


def split_inline_styles(source: str) -> tuple[str, str]:
    """Take the ``<mj-style inline="inline">`` blocks out of MJML; return it and their CSS."""
    rules: list[str] = []

    def take(match: re.Match[str]) -> str:
        rules.append(match.group(1))
        return ""

    return _INLINE_STYLE.sub(take, source), "\n".join(rules)


def inline_css(html: str, css: str, inline: Callable[[str, str], str] | None = None) -> Markup:
    """Jinja filter: ``html`` with the rules of ``css`` written into style attributes.

    Selectors see the fragment as the content of one ``<div>``, so ``p`` styles its
    paragraphs and ``div > :last-child`` its last block. Text that is not Markup yet is
    escaped first, so the filter never turns plain text into live HTML. ``inline`` is the
    renderer's cached :func:`inline_fragment`.
    """
    fragment = str(escape(html))
    return Markup((inline or inline_fragment)(fragment, str(css)))  # css-inline re-serialises


def inline_fragment(html: str, css: str) -> str:
    """``css`` applied to the HTML fragment ``html``; InlineCSSError if css-inline refuses."""
    if not css.strip():
        return html
    import css_inline

    try:
        out = str(css_inline.inline_fragment(f"<div>{html}</div>", css))
    except (css_inline.InlineError, ValueError) as e:
        raise InlineCSSError(f"inline_css cannot apply its CSS: {e}") from e
    wrapped = _WRAPPED.fullmatch(out)
    if wrapped is None:  # pragma: no cover - css-inline keeps the element it was given
        raise InlineCSSError("inline_css: css-inline did not return the fragment it was given")
    return wrapped.group(1)


class DocumentInliner:
    """Applies ``<mj-style inline="inline">`` CSS to a compiled document, as mjml does.

    Exactly those rules are applied: the other <style> tags are neither applied nor
    removed, so MJML's resets stay in <head> and media queries (dark mode, phone layouts)
    keep working. One css-inline inliner per distinct CSS text, i.e. one per run.
    """

    def __init__(self) -> None:
        self._inliners: dict[str, css_inline.CSSInliner] = {}

    def inline(self, html: str, css: str) -> str:
        """``html`` with ``css`` inlined; InlineCSSError when css-inline refuses it."""
        if not css.strip():
            return html
        import css_inline

        inliner = self._inliners.get(css)
        if inliner is None:
            inliner = css_inline.CSSInliner(
                inline_style_tags=False,
                keep_style_tags=True,
                load_remote_stylesheets=False,
                extra_css=css,
            )
            self._inliners[css] = inliner
        try:
            return str(inliner.inline(html))
        except (css_inline.InlineError, ValueError) as e:
            raise InlineCSSError(str(e)) from e
