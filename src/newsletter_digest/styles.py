"""CSS inlining with css-inline, for mail clients that drop <style>: two ways in.

- The ``inline_css`` template filter styles one HTML fragment (an excerpt's body, the
  footer) with the CSS it is given. A fragment recurs across issues and, with per-reader
  excerpts, across messages, so the result is cached (and kept between runs by memo.py):
  a few microseconds per message.
- ``<mj-style inline="inline">`` blocks, as in MJML: MRML leaves them in a <style> tag, so
  :class:`DocumentInliner` applies them to the whole compiled document, which costs most of
  a millisecond for every message rendered. The shipped templates use the filter.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from newsletter_digest import memo

if TYPE_CHECKING:
    import css_inline

__all__ = ["DocumentInliner", "InlineCSSError", "inline_css", "split_inline_styles"]

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


def inline_css(html: str, css: str) -> Markup:
    """Jinja filter: ``html`` with the rules of ``css`` written into style attributes.

    Selectors see the fragment as the content of one ``<div>``, so ``p`` styles its
    paragraphs and ``div > :last-child`` its last block. Text that is not Markup yet is
    escaped first, so the filter never turns plain text into live HTML.
    """
    return Markup(_inline_fragment(str(escape(html)), str(css)))  # css-inline re-serialises


@lru_cache(maxsize=64)
def _css_id(css: str) -> str:
    """A short name for a CSS text, so memo keys do not repeat the whole of it."""
    return hashlib.blake2b(css.encode(), digest_size=10).hexdigest()


@lru_cache(maxsize=4096)
def _inline_fragment(html: str, css: str) -> str:
    if not css.strip():
        return html
    key = f"{_css_id(css)}:{html}"
    stored = memo.lookup("inline_css", key)
    if isinstance(stored, str):
        return stored
    import css_inline

    try:
        out = str(css_inline.inline_fragment(f"<div>{html}</div>", css))
    except (css_inline.InlineError, ValueError) as e:
        raise InlineCSSError(f"inline_css cannot apply its CSS: {e}") from e
    wrapped = _WRAPPED.fullmatch(out)
    if wrapped is None:  # pragma: no cover - css-inline keeps the element it was given
        raise InlineCSSError("inline_css: css-inline did not return the fragment it was given")
    result = wrapped.group(1)
    memo.remember("inline_css", key, result)
    return result


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
