"""Safe Markdown for excerpt bodies: HTML for the email and plain text for the text part.

Excerpt bodies are CommonMark (plus ``~~strikethrough~~``). Raw HTML is never passed
through: it shows as literal text. Only absolute ``http(s)`` and ``mailto`` links survive
(any other link renders as its text alone), and images only load from ``http(s)`` (any
other image renders as its alt text). Both renderings share one parser, built once.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from newsletter_digest import urls

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore
    from markdown_it.tree import SyntaxTreeNode

__all__ = ["Rendered", "is_safe_url", "render", "to_html", "to_text"]

LINK_SCHEMES = urls.LINK_SCHEMES
IMAGE_SCHEMES = ("http", "https")
IMAGE_WIDTH = 552  # the email's content column


def is_safe_url(url: str, *, image: bool = False) -> bool:
    """Whether a link (or, with ``image``, an image source) may appear in an email."""
    return urls.is_safe_url(url, IMAGE_SCHEMES if image else LINK_SCHEMES)


def _allow_every_link(url: str) -> bool:
    """Let every link parse so that a refused one can still render as its text."""
    return True


def _sanitize(state: StateCore) -> None:
    """Drop links and images whose URL an email must not carry, keeping their text."""
    from markdown_it.token import Token

    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        kept: list[Token] = []
        dropped_links: list[bool] = []
        for token in block.children:
            if token.type == "link_open":
                href = str(token.attrGet("href") or "")
                dropped_links.append(not is_safe_url(href))
                if dropped_links[-1]:
                    continue
            elif token.type == "link_close":
                if dropped_links and dropped_links.pop():
                    continue
            elif token.type == "image":
                src = str(token.attrGet("src") or "")
                if not is_safe_url(src, image=True):
                    kept.append(Token("text", "", 0, content=token.content))
                    continue
                # An explicit width (the 552 px column; Outlook needs it) that phones scale
                # down; the alt text is always there, empty when the Markdown gave none.
                token.attrSet("width", str(IMAGE_WIDTH))
                token.attrSet("style", "display:block;max-width:100%;height:auto;border:0")
            kept.append(token)
        block.children = kept


@cache
def _parser() -> MarkdownIt:
    """Build the one parser: CommonMark, raw HTML off, strikethrough on, URLs policed."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("strikethrough")
    md.validateLink = _allow_every_link  # type: ignore[method-assign]
    md.core.ruler.push("email_safe_urls", _sanitize)
    return md


class Rendered(NamedTuple):
    """A Markdown body as safe HTML and as plain text, from one parse."""

    html: str
    text: str


def render(markdown: str) -> Rendered:
    """Parse a Markdown body with markdown-it and render it both ways: HTML and text."""
    from markdown_it.tree import SyntaxTreeNode

    md = _parser()
    tokens = md.parse(markdown)
    html = str(md.renderer.render(tokens, md.options, {}))
    text = "\n\n".join(_blocks(SyntaxTreeNode(tokens).children)).strip("\n")
    return Rendered(html, text)


def to_html(markdown: str) -> str:
    """Render a Markdown body to HTML that is safe to mark as such in a template."""
    return render(markdown).html


def to_text(markdown: str) -> str:
    """Render a Markdown body to readable plain text: links as "text (url)", lists kept."""
    return render(markdown).text


def _blocks(nodes: list[SyntaxTreeNode]) -> list[str]:
    """Render sibling block nodes to one text chunk each (empty chunks left out)."""
    chunks = (_block(node) for node in nodes)
    return [chunk for chunk in chunks if chunk.strip()]


def _block(node: SyntaxTreeNode) -> str:
    """Render one block node (paragraph, heading, list, quote, code, rule) to text."""
    kind = node.type
    if kind in ("paragraph", "heading"):
        return "".join(_inline(child) for child in node.children)
    if kind == "inline":
        return _inline(node)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "blockquote":
        inner = "\n\n".join(_blocks(node.children))
        return "\n".join(f"> {line}".rstrip() for line in inner.split("\n"))
    if kind in ("code_block", "fence"):
        return "\n".join(f"    {line}".rstrip() for line in node.content.rstrip("\n").split("\n"))
    if kind == "hr":
        return "* * *"
    return "\n\n".join(_blocks(node.children))


def _list(node: SyntaxTreeNode) -> str:
    """Render a list with "- " or "N. " markers, continuation lines indented under them."""
    ordered = node.type == "ordered_list"
    start = int(str(node.attrs.get("start", 1))) if ordered else 1
    tight = all(
        grandchild.hidden
        for item in node.children
        for grandchild in item.children
        if grandchild.type == "paragraph"
    )
    items: list[str] = []
    for number, item in enumerate(node.children, start=start):
        marker = f"{number}. " if ordered else "- "
        body = ("\n" if tight else "\n\n").join(_blocks(item.children))
        lines = body.split("\n")
        indent = " " * len(marker)
        rest = [f"{indent}{line}".rstrip() for line in lines[1:]]
        items.append("\n".join([marker + lines[0], *rest]))
    return ("\n" if tight else "\n\n").join(items)


def _inline(node: SyntaxTreeNode) -> str:
    """Render inline content: markers dropped, links as "text (url)", images as alt text."""
    kind = node.type
    if kind in ("text", "code_inline"):
        return node.content
    if kind == "softbreak":  # a line end in the source is a space, as in the HTML part
        return " "
    if kind == "hardbreak":
        return "\n"
    if kind == "image":
        return node.content
    inner = "".join(_inline(child) for child in node.children)
    if kind == "link":
        href = str(node.attrs.get("href", ""))
        shown = href.removeprefix("mailto:")
        return inner if inner in (href, shown) else f"{inner} ({shown})"
    return inner
