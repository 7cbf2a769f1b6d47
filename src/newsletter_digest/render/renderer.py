"""Render an issue: Jinja2 → MJML → HTML (MRML, then styles.py), plus the plain-text part.

Pure: the same issue and excerpts give the same subject, preheader, HTML and text. One
:class:`Renderer` holds everything that is costly to build (two Jinja2 environments with
their compiled templates, the CSS inliners) and is reused for every issue of a run.

Why two environments: every HTML/MJML template is autoescaped whatever its file name, but
the plain-text part and the subject/preheader are not HTML, so escaping there would turn
"Tom & Jerry" into "Tom &amp; Jerry". Autoescaping is a property of the environment (and is
compiled into each template), so the text part and the subject/preheader strings use a
second environment with autoescape off. Both share one loader, filters and options.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import mjml
from markupsafe import Markup

from newsletter_digest.config.defaults import DEFAULT_SUBJECT
from newsletter_digest.content.teasers import body_under_title
from newsletter_digest.errors import ConfigError, TemplateError, shorten
from newsletter_digest.models import Excerpt, IssueInfo, RenderedIssue, folder_name
from newsletter_digest.render import markdown
from newsletter_digest.render.cache import RenderCache
from newsletter_digest.render.personal import RecipientFields
from newsletter_digest.render.styles import DocumentInliner, InlineCSSError, split_inline_styles
from newsletter_digest.render.templates import (
    PACKAGE_TEMPLATES,
    RecordEnvironment,
    TemplateLoader,
    bytecode_cache,
    describe_template,
    page_environment,
    template_cache_dir,
    template_environment,
    template_error,
    template_loader,
    template_path,
)
from newsletter_digest.render.wrap import wrap_text

__all__ = [
    "DEFAULT_SUBJECT",
    "PACKAGE_TEMPLATES",
    "Branding",
    "ExcerptView",
    "RecordEnvironment",
    "Renderer",
    "TemplateLoader",
    "bytecode_cache",
    "page_environment",
    "template_cache_dir",
    "template_error",
    "template_path",
    "web_url",
]

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
PREHEADER_LIMIT = 100
_MJML_TAG = re.compile(r"<(/?)(mjml|mj-[a-z-]+)\b[^>]*?(/?)>")
_MRML_POSITION = re.compile(r"at position (\d+):(\d+)")
_BLANK_RUNS = re.compile(r"\n{3,}")


# Gmail hides everything after the first 102 KB of an email's HTML behind "[Message clipped]"
# (with the unsubscribe footer and the open-tracking pixel, if any).
GMAIL_CLIP_BYTES = 102 * 1024


def size_warning(rendered: RenderedIssue) -> str | None:
    """A warning when the issue's HTML is past Gmail's clipping limit, saying what to do."""
    size = len(rendered.html.encode())
    if size < GMAIL_CLIP_BYTES:
        return None
    return (
        f"the HTML is {size / 1024:.0f} KB, past Gmail's {GMAIL_CLIP_BYTES // 1024} KB limit: "
        "Gmail clips the rest, footer and unsubscribe link included (hint: fewer excerpts "
        "with per_issue, or shorter excerpt bodies)"
    )


class Branding(NamedTuple):
    """What the newsletter says about itself; subject and preheader are Jinja strings."""

    title: str
    sender: str
    unsubscribe: str | None = None
    footer: str | None = None
    subject: str = DEFAULT_SUBJECT
    preheader: str | None = None
    base_url: str | None = None
    language: str = "en"


def web_url(base_url: str | None, number: int) -> str | None:
    """The address of an issue's web version (``base_url/issue-NNNN/``), None without a base."""
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/{folder_name(number)}/"


class ExcerptView(NamedTuple):
    """An excerpt as templates see it: safe HTML and plain-text bodies, a vetted url."""

    id: str
    title: str
    author: str | None
    source: str | None
    url: str | None
    tags: tuple[str, ...]
    html: Markup
    text: str


class SectionView(NamedTuple):
    """What templates see of one section: its title and its excerpts."""

    title: str
    excerpts: tuple[ExcerptView, ...]


def excerpt_view(excerpt: Excerpt, cache: RenderCache | None = None) -> ExcerptView:
    """Prepare one excerpt for templates; a url that is not http(s)/mailto is left out.

    The body is what goes under the heading: a heading that is the body's first sentence
    is not printed twice (see body_under_title), and may leave no body at all.
    """
    url = excerpt.url if excerpt.url and markdown.is_safe_url(excerpt.url) else None
    shown = body_under_title(excerpt.title, excerpt.body)
    body = cache.markdown(shown) if cache is not None else markdown.render(shown)
    return ExcerptView(
        id=excerpt.id,
        title=excerpt.title,
        author=excerpt.author,
        source=excerpt.source,
        url=url,
        tags=excerpt.tags,
        html=Markup(body.html),  # sanitized by markdown.py
        text=body.text,
    )


def one_line(value: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces, for headers."""
    return " ".join(value.split())


def derive_preheader(excerpts: Sequence[ExcerptView], limit: int = PREHEADER_LIMIT) -> str:
    """The excerpt titles joined by " · ", cut at a word boundary to about ``limit`` chars."""
    joined = one_line(" · ".join(e.title for e in excerpts))
    if len(joined) <= limit:
        return joined
    cut = joined[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ·,;:") + "…"


def tidy_text(value: str) -> str:
    """Trim trailing spaces, collapse runs of blank lines, wrap long lines at 76 columns
    (never inside a URL), end with exactly one newline."""
    lines = "\n".join(line.rstrip() for line in value.strip().splitlines())
    return wrap_text(_BLANK_RUNS.sub("\n\n", lines)) + "\n"


def _mjml_hint(source: str, message: str) -> str:
    """Point at the bad spot of the rendered MJML: MRML's position, or an unclosed tag."""
    position = _MRML_POSITION.search(message)
    if position:
        offset = len(source.encode()[: int(position.group(1))].decode(errors="ignore"))
        number = source.count("\n", 0, offset) + 1
        line = source.splitlines()[number - 1].strip() if source.strip() else ""
        return f"line {number} of the rendered MJML: {line[:120]}"
    stack: list[tuple[str, int]] = []
    for match in _MJML_TAG.finditer(source):
        closing, name, self_closing = match.groups()
        number = source.count("\n", 0, match.start()) + 1
        if self_closing:
            continue
        if not closing:
            stack.append((name, number))
        elif not stack or stack[-1][0] != name:
            opened = f"<{stack[-1][0]}> opened on line {stack[-1][1]}" if stack else "nothing"
            return f"</{name}> on line {number} of the rendered MJML closes {opened}"
        else:
            stack.pop()
    if stack:
        name, number = stack[-1]
        return f"<{name}> opened on line {number} of the rendered MJML is never closed"
    return "check the MJML tags and attributes of the templates (https://documentation.mjml.io)"


class Renderer:
    """Renders issues with one pair of Jinja2 environments and one CSS inliner per run."""

    def __init__(
        self,
        templates_dir: Path | None,
        branding: Branding,
        cache_dir: Path | None = None,
        *,
        save_cache: bool = True,
        cache: RenderCache | None = None,
    ) -> None:
        """Set up the loaders (user folder first, then the built-in templates).

        ``cache_dir`` keeps compiled templates between runs (Jinja2's bytecode cache, checked
        against each template's source). ``save_cache=False`` only reads it. ``cache`` keeps
        rendered Markdown and inlined CSS for this renderer's life (a new one by default).
        """
        if templates_dir is not None and templates_dir.exists() and not templates_dir.is_dir():
            raise TemplateError(
                f"templates: {templates_dir} is not a folder",
                "point `templates:` in digest.yaml at a folder of template overrides",
            )
        if branding.unsubscribe and not markdown.is_safe_url(branding.unsubscribe):
            raise ConfigError(
                f"unsubscribe: {shorten(branding.unsubscribe)} is not an http(s) or mailto URL",
                "use an https:// page or a mailto: address",
            )
        if branding.base_url and not branding.base_url.startswith(("https://", "http://")):
            raise ConfigError(
                f"base_url: {shorten(branding.base_url)} is not an http(s) URL",
                "set base_url to the web address the outbox is served at, or leave it out",
            )
        self._templates_dir = templates_dir
        self._branding = branding
        loader = template_loader(templates_dir)
        # Separate caches: the same template compiles differently with and without escaping.
        html_cache, text_cache = (
            (cache_dir / "html", cache_dir / "text") if cache_dir else (None, None)
        )
        self.cache = cache if cache is not None else RenderCache()
        self._html_env = template_environment(
            loader, self.cache, autoescape=True, cache_dir=html_cache, save_cache=save_cache
        )
        self._text_env = template_environment(
            loader, self.cache, autoescape=False, cache_dir=text_cache, save_cache=save_cache
        )
        self._strings: dict[str, jinja2.Template] = {}
        self._inliner = DocumentInliner()

    def render(
        self,
        issue: IssueInfo,
        excerpts: Sequence[Excerpt],
        sections: Sequence[tuple[str, int]] = (),
    ) -> RenderedIssue:
        """Render subject, preheader, HTML and text of one issue; TemplateError if one fails.

        ``sections`` splits ``excerpts`` (in order) into titled parts: (title, how many).
        """
        b = self._branding
        views = tuple(excerpt_view(e, self.cache) for e in excerpts)
        parts: list[SectionView] = []
        start = 0
        for title, size in sections:
            parts.append(SectionView(title, views[start : start + size]))
            start += size
        context: dict[str, Any] = {
            "title": b.title,
            "language": b.language,
            "sender": b.sender,
            "unsubscribe": b.unsubscribe,
            "footer": b.footer,
            "base_url": b.base_url,
            "web_url": web_url(b.base_url, issue.number),
            "issue": issue,
            "excerpts": views,
            "sections": tuple(parts),  # empty without sections: excerpts is the whole issue
            # Markers, filled per recipient after rendering (see personal.py).
            "recipient": RecipientFields(),
        }
        subject = one_line(self._render_string("subject", b.subject, context))
        if not subject:
            raise TemplateError("subject: renders to an empty line", "change `subject:`")
        if b.preheader is None:
            preheader = derive_preheader(views)
        else:
            preheader = one_line(self._render_string("preheader", b.preheader, context))
        context |= {"subject": subject, "preheader": preheader}
        source = self._render_file(self._html_env, HTML_TEMPLATE, context)
        source, inline_css = split_inline_styles(source)
        html = self._inline(self._compile_mjml(source), inline_css)
        text = tidy_text(self._render_file(self._text_env, TEXT_TEMPLATE, context))
        return RenderedIssue(subject=subject, preheader=preheader, html=html, text=text)

    def check(self) -> list[str]:
        """Compile every template and the subject/preheader, then render a sample issue."""
        problems: list[str] = []
        names = self._html_env.list_templates(filter_func=lambda name: name.endswith(".j2"))
        for name in sorted(set(names)):
            env = self._text_env if ".txt" in name else self._html_env
            try:
                env.get_template(name)
            except Exception as e:
                problems.append(self._error(e, self._path(name)).message)
        problems += self._check_string("subject", self._branding.subject)
        if self._branding.preheader is not None:
            problems += self._check_string("preheader", self._branding.preheader)
        if not problems:
            try:
                self.render(SAMPLE_ISSUE, SAMPLE_EXCERPTS)
            except TemplateError as e:
                problems.append(f"rendering a sample issue: {e.message}")
        return problems

    def _check_string(self, label: str, source: str) -> list[str]:
        """Compile one configured Jinja string; its problem, if any."""
        try:
            self._string_template(label, source)
        except TemplateError as e:
            return [e.message]
        return []

    def _string_template(self, label: str, source: str) -> jinja2.Template:
        """Compile (once) a Jinja string from digest.yaml in the no-escape environment."""
        template = self._strings.get(label)
        if template is None:
            try:
                template = self._compile_string(label, source)
            except Exception as e:
                raise self._error(e, label) from e
            self._strings[label] = template
        return template

    def _compile_string(self, label: str, source: str) -> jinja2.Template:
        """``from_string`` through the bytecode cache (Jinja2 only caches loaded files)."""
        env = self._text_env
        cache = env.bytecode_cache
        if cache is None:
            return env.from_string(source)
        name = f"<digest.yaml {label}>"
        bucket = cache.get_bucket(env, name, None, source)  # keyed by the source's checksum
        if bucket.code is None:
            bucket.code = env.compile(source, name)
            cache.set_bucket(bucket)
        return env.template_class.from_code(env, bucket.code, env.make_globals(None))

    def _render_string(self, label: str, source: str, context: Mapping[str, Any]) -> str:
        """Render a configured Jinja string such as the subject."""
        template = self._string_template(label, source)
        try:
            return template.render(context)
        except Exception as e:
            raise self._error(e, label) from e

    def _render_file(self, env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
        """Render a template file (compiled once per environment) with the issue's data."""
        try:
            return env.get_template(name).render(context)
        except Exception as e:
            raise self._error(e, self._path(name)) from e

    def _compile_mjml(self, source: str) -> str:
        """Compile the rendered MJML to HTML with MRML; no web-font links are added."""
        try:
            return str(mjml.mjml2html(source, disable_comments=True, fonts={}))
        except ValueError as e:
            raise TemplateError(
                f"{self._html_template_name()}: the MJML it renders is invalid: {e}",
                _mjml_hint(source, str(e)),
            ) from e

    def _html_template_name(self) -> str:
        """Name the MJML template in use (the user's override or the built-in one)."""
        return self._describe(self._html_env.get_template(HTML_TEMPLATE).filename)

    def _inline(self, html: str, css: str) -> str:
        """Apply the ``<mj-style inline="inline">`` rules of the templates (see styles.py)."""
        try:
            return self._inliner.inline(html, css)
        except InlineCSSError as e:
            raise TemplateError(
                f"{self._html_template_name()}: its inline CSS cannot be inlined: {e}",
                'check the rules in <mj-style inline="inline"> blocks',
            ) from e

    def _describe(self, filename: str | None, fallback: str = "template") -> str:
        """Name a template for a message: a user file by path, a built-in one as such."""
        return describe_template(filename, fallback)

    def _path(self, name: str) -> str:
        """The template file ``name`` loads from, named for a message."""
        return template_path(self._templates_dir, name)

    def _error(self, exc: BaseException, label: str = "template") -> TemplateError:
        """Turn a Jinja2 (or template-raised) exception into a TemplateError naming file+line."""
        return template_error(exc, label, templates_dir=self._templates_dir)


SAMPLE_ISSUE = IssueInfo(number=1, date=date(2000, 1, 1))
SAMPLE_EXCERPTS = (
    Excerpt(
        id="sample-1",
        title="A sample excerpt",
        body="Some *Markdown* with [a link](https://example.org/).",
        path=Path("sample-1.md"),
        url="https://example.org/1",
        author="A. Author",
        source="Example",
        tags=("sample",),
    ),
    Excerpt(id="sample-2", title="Another one", body="Text only.", path=Path("sample-2.md")),
    Excerpt(
        id="sample-3",
        title="A third",
        body="- one\n- two",
        path=Path("sample-3.md"),
        url="https://example.org/3",
    ),
)
