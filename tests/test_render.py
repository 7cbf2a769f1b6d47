"""Rendering with the real Jinja2, MRML and css-inline: content, safety, overrides, errors."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import pytest

from newsletter_digest.errors import TemplateError
from newsletter_digest.models import Excerpt, IssueInfo, RenderedIssue
from newsletter_digest.render.cache import RenderCache
from newsletter_digest.render.renderer import Branding, Renderer, derive_preheader, excerpt_view

ISSUE = IssueInfo(number=7, date=date(2025, 3, 7))
BRANDING = Branding(
    title="Test Weekly",
    sender="Test Weekly <news@example.org>",
    unsubscribe="https://example.org/unsubscribe?list=1&u=2",
    footer="Made by **Example Media** & friends, 1 Main Street.",
)


def excerpt(n: int, **changes: Any) -> Excerpt:
    """An excerpt with a url, an author and a source, changed as asked."""
    base = Excerpt(
        id=f"post-{n}",
        title=f"Post number {n}",
        body=f"The body of post {n}, with a [link](https://example.org/ref/{n}).",
        path=Path(f"post-{n}.md"),
        url=f"https://example.org/post-{n}",
        author=f"Author {n}",
        source="The Source",
        tags=("news",),
    )
    return base._replace(**changes)


def render(
    *excerpts: Excerpt, branding: Branding = BRANDING, templates: Path | None = None
) -> RenderedIssue:
    """Render one issue with a fresh renderer."""
    return Renderer(templates, branding).render(ISSUE, excerpts or (excerpt(1), excerpt(2)))


class _Tags(HTMLParser):
    """Collects the start tags a browser would see (comments are skipped)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """The start tags of an HTML document, with their attributes."""
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def visible(html: str) -> str:
    """The HTML without MSO conditional comments, which only Outlook reads."""
    return re.sub(r"<!--\[if .*?<!\[endif\]-->", "", html, flags=re.DOTALL)


def test_html_has_titles_bodies_and_issue_details() -> None:
    out = render(excerpt(1), excerpt(2), excerpt(3))
    for n in (1, 2, 3):
        assert f"Post number {n}" in out.html
        assert f"The body of post {n}" in out.html
        assert f'href="https://example.org/ref/{n}"' in out.html
    assert "Test Weekly" in out.html
    assert "Issue 7" in out.html
    assert "7 March 2025" in out.html
    assert out.html.lstrip().lower().startswith("<!doctype html>")


def test_script_in_title_and_body_is_text() -> None:
    evil = excerpt(
        1,
        title="<script>alert('t')</script> Tom & Jerry",
        body="<script>alert('b')</script> and <img src=x onerror=alert(1)>",
        author="<b>Eve</b>",
    )
    out = render(evil)
    found = tags(out.html)
    assert not [tag for tag, _ in found if tag in ("script", "img", "b")]
    assert not [attrs for _, attrs in found if "onerror" in attrs]
    shown = out.html.replace("&#39;", "'")  # Jinja2 writes ' as &#39;, css-inline as '
    assert "&lt;script&gt;alert('t')&lt;/script&gt; Tom &amp; Jerry</a>" in shown
    assert "&lt;script&gt;alert('b')&lt;/script&gt; and &lt;img src=x" in shown
    assert "&lt;b&gt;Eve&lt;/b&gt;" in out.html


def test_raw_html_in_body_is_text() -> None:
    out = render(excerpt(1, body='<div class="x">raw</div>\n\nand <em>inline</em>'))
    assert '<div class="x">raw' not in out.html
    assert '&lt;div class="x"&gt;raw&lt;/div&gt;' in out.html
    assert [tag for tag, _ in tags(out.html) if tag == "em"] == []
    assert "&lt;em&gt;inline&lt;/em&gt;" in out.html


def test_javascript_links_are_dropped() -> None:
    out = render(
        excerpt(1, body="Click [me](javascript:alert(1)) please."),
        excerpt(2, url="javascript:alert(2)"),
    )
    assert "javascript" not in out.html.lower()
    assert "javascript" not in out.text.lower()
    assert "Click me please." in out.text
    assert out.text.count("Read more") == 1


def test_text_part_has_titles_and_urls_without_html() -> None:
    out = render(excerpt(1, title="Tom & Jerry's <best> bits"), excerpt(2, url=None))
    assert "Tom & Jerry's <best> bits" in out.text
    assert "Post number 2" in out.text
    assert "https://example.org/post-1" in out.text
    assert "link (https://example.org/ref/1)" in out.text
    assert "https://example.org/unsubscribe?list=1&u=2" in out.text
    assert "Made by Example Media & friends" in out.text
    assert "&amp;" not in out.text
    assert not re.search(r"</?[a-z][a-z0-9-]*[\s>]", out.text.replace("<best>", ""))
    assert out.text.endswith("\n")
    assert "\n\n\n" not in out.text


def test_read_more_only_with_url() -> None:
    out = render(excerpt(1), excerpt(2, url=None), excerpt(3, url=None))
    assert out.html.count("Read more") == 1
    assert out.text.count("Read more") == 1
    assert out.html.count('href="https://example.org/post-1"') == 2  # title and button
    assert "https://example.org/post-2" not in out.html


def test_title_is_linked_only_with_url() -> None:
    out = render(excerpt(1, url=None, title="Unlinked title"))
    assert re.search(r">\s*Unlinked title\s*<", out.html)
    assert not re.search(r"<a [^>]*>\s*Unlinked title", out.html)


def test_unsubscribe_link_when_configured() -> None:
    out = render()
    assert 'href="https://example.org/unsubscribe?list=1&amp;u=2"' in out.html
    assert "Unsubscribe" in out.html
    bare = render(branding=BRANDING._replace(unsubscribe=None, footer=None))
    assert "Unsubscribe" not in bare.html
    assert "nsubscribe" not in bare.text


def test_footer_is_markdown() -> None:
    out = render()
    assert "<strong>Example Media</strong> &amp; friends" in out.html


def style_of(html: str, start_tag: str) -> str:
    """The style attribute of the first tag that starts with ``start_tag``."""
    tag = re.search(re.escape(start_tag) + r"[^>]*>", html)
    assert tag is not None, start_tag
    style = re.search(r'style="([^"]*)"', tag.group(0))
    return style.group(1) if style else ""


def test_markdown_html_is_styled_in_style_attributes() -> None:
    """Clients that drop <style> (Gmail app, some webmail) still show the design."""
    body = "First [body link](https://example.org/in-body).\n\nLast paragraph."
    out = render(excerpt(1, body=body))
    assert re.search(
        r"color:\s*#2f5d50", style_of(out.html, '<a href="https://example.org/in-body"')
    )
    first, last = re.findall(r"<p style=\"([^\"]*)\">(?:First|Last)", out.html)
    assert "margin: 0 0 12px" in first and "margin-bottom: 0" not in first
    assert "margin-bottom: 0" in last  # no gap under the last paragraph of a body
    assert "text-decoration: none" in style_of(out.html, '<a href="https://example.org/post-1"')
    assert "#6f6d64" in style_of(out.html, '<a href="https://example.org/unsubscribe')
    assert "margin: 0 0 8px" in style_of(out.html, '<p style="margin: 0 0 8px')
    assert "<strong>Example Media</strong>" in out.html


def one_text_template(folder: Path, text: str) -> Path:
    """A digest.mjml.j2 override in ``folder``: one mj-text holding ``text``."""
    (folder / "digest.mjml.j2").write_text(
        f"<mjml><mj-body><mj-section><mj-column><mj-text>{text}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>",
        encoding="utf-8",
    )
    return folder


def test_inline_css_filter_styles_a_fragment_and_escapes_plain_text(tmp_path: Path) -> None:
    one_text_template(
        tmp_path,
        "{{ excerpts[0].html | inline_css('p { color: #123456; }') }}"
        "{{ excerpts[0].title | inline_css('b { color: red; }') }}",
    )
    out = render(excerpt(1, title="<b>bold?</b>"), templates=tmp_path)
    assert re.search(r'<p style="color:\s*#123456;?">The body of post 1', out.html)
    assert "&lt;b&gt;bold?&lt;/b&gt;" in out.html  # a plain string stays text
    assert "<b" not in out.html.replace("<body", "").replace("<br", "")


def test_user_mj_style_inline_is_inlined(tmp_path: Path) -> None:
    (tmp_path / "digest.mjml.j2").write_text(
        '<mjml><mj-head><mj-style inline="inline">.hi { letter-spacing: 3px; }</mj-style>'
        "</mj-head><mj-body><mj-section><mj-column>"
        '<mj-text css-class="hi"><p class="hi">{{ title }}</p></mj-text>'
        "</mj-column></mj-section></mj-body></mjml>",
        encoding="utf-8",
    )
    out = render(templates=tmp_path)
    assert re.search(r'<p class="hi" style="[^"]*letter-spacing:\s*3px', out.html)


def test_dark_mode_and_color_scheme() -> None:
    html = render().html
    assert "@media (prefers-color-scheme: dark)" in html
    assert re.search(r'<meta name="color-scheme" content="light dark"\s*/?>', html)
    assert re.search(r'<meta name="supported-color-schemes" content="light dark"\s*/?>', html)


def test_phone_friendly_and_no_web_fonts() -> None:
    html = render(excerpt(1), excerpt(2)).html
    assert 'name="viewport" content="width=device-width' in html
    assert "fonts.googleapis" not in html
    assert "<link" not in html
    shown = visible(html)
    widths = re.findall(r"(?<![\w-])width\s*:\s*(\d+)px", shown)
    widths += re.findall(r'\swidth="(\d+)"', shown)
    assert all(int(w) <= 375 for w in widths), widths


def test_ten_excerpts_stay_under_gmail_clipping() -> None:
    body = "A paragraph of a reasonable teaser length, with **some** emphasis. " * 6
    excerpts = [excerpt(n, body=body + f"\n\n[More](https://example.org/{n})") for n in range(10)]
    html = render(*excerpts).html
    assert len(html.encode("utf-8")) < 102 * 1024 * 0.75


def test_preheader_is_hidden_and_derived_from_titles() -> None:
    out = render(excerpt(1), excerpt(2))
    assert out.preheader == "Post number 1 · Post number 2"
    hidden = r'<div class="preheader" style="display:none;[^"]*">Post number 1 · Post number 2'
    assert re.search(hidden, out.html)
    assert "#ffffff;line-height:1px" not in out.html  # not MRML's white-on-white preview


def test_derived_preheader_is_trimmed() -> None:
    views = [
        excerpt_view(excerpt(n, title=f"A rather long title for excerpt {n}")) for n in range(8)
    ]
    preheader = derive_preheader(views)
    assert len(preheader) <= 100
    assert preheader.endswith("…")


def test_configured_preheader() -> None:
    branding = BRANDING._replace(preheader="This week:\n {{ excerpts | length }} picks & more")
    assert render(branding=branding).preheader == "This week: 2 picks & more"


def test_subject_non_ascii_one_line_unescaped() -> None:
    branding = BRANDING._replace(
        title="Grüße & Ciao",
        subject="{{ title }} —\n #{{ issue.number }} ({{ issue.date }}):\t{{ excerpts[0].title }}",
    )
    out = render(excerpt(1, title="Café <Ünïcödé> 日本"), branding=branding)
    assert out.subject == "Grüße & Ciao — #7 (2025-03-07): Café <Ünïcödé> 日本"
    assert "\n" not in out.subject
    assert "Grüße &amp; Ciao" in out.html  # <title> in the HTML is escaped


def test_default_subject() -> None:
    assert render().subject == "Test Weekly #7: Post number 1"


def test_rendering_is_pure() -> None:
    renderer = Renderer(None, BRANDING)
    excerpts = (excerpt(1), excerpt(2, url=None))
    assert renderer.render(ISSUE, excerpts) == renderer.render(ISSUE, excerpts)
    assert renderer.render(ISSUE, excerpts) == Renderer(None, BRANDING).render(ISSUE, excerpts)


def test_user_template_overrides_default_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "excerpt.txt.j2").write_text(
        "* {{ excerpt.title | upper }} & co\n", encoding="utf-8"
    )
    out = render(excerpt(1), templates=tmp_path)
    assert "* POST NUMBER 1 & co" in out.text
    assert "Test Weekly" in out.text  # digest.txt.j2 is still the built-in one
    assert "Post number 1" in out.html  # the HTML templates too


def test_missing_templates_folder_falls_back_to_defaults(tmp_path: Path) -> None:
    out = render(templates=tmp_path / "absent")
    assert "Post number 1" in out.html


def test_templates_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "templates"
    path.write_text("", encoding="utf-8")
    with pytest.raises(TemplateError, match="not a folder"):
        Renderer(path, BRANDING)


def test_broken_user_template_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "digest.txt.j2"
    broken.write_text("{{ title }}\n\n{% for x in excerpts %}\n{{ x.title }\n", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert str(broken) in info.value.message
    assert "line 4" in info.value.message
    assert info.value.hint


def test_broken_user_partial_names_the_partial(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    partial = tmp_path / "partials" / "footer.mjml.j2"
    partial.write_text("<mj-section>\n{% if unsubscribe %}\n</mj-section>\n", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert str(partial) in info.value.message
    assert "line" in info.value.message


# Records are NamedTuples: their tuple methods (count, index) must not stand in for a field.
@pytest.mark.parametrize(
    "expression", ["excerpt.autor", "excerpt.index", "excerpt.count", "issue.count"]
)
def test_undefined_variable_names_file_and_line(tmp_path: Path, expression: str) -> None:
    (tmp_path / "partials").mkdir()
    partial = tmp_path / "partials" / "excerpt.txt.j2"
    partial.write_text(f"{{{{ excerpt.title }}}}\n{{{{ {expression} }}}}\n", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert str(partial) in info.value.message
    assert "line 2" in info.value.message
    assert expression.split(".")[1] in info.value.message
    assert "excerpts" in info.value.hint


def test_undefined_variable_in_subject() -> None:
    with pytest.raises(TemplateError, match=r"subject, line 1: 'nope' is undefined"):
        render(branding=BRANDING._replace(subject="{{ title }} {{ nope }}"))


def test_missing_include_names_the_includer(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("x\n{% include 'partials/nope.j2' %}\n")
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert "digest.txt.j2, line 2" in info.value.message
    assert "partials/nope.j2" in info.value.message


def test_invalid_mjml_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "digest.mjml.j2").write_text(
        "<mjml>\n<mj-body>\n<mj-section><mj-column><mj-text>{{ title }}</mj-column>\n"
        "</mj-section></mj-body></mjml>\n",
        encoding="utf-8",
    )
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert "digest.mjml.j2" in info.value.message
    assert "MJML" in info.value.message
    assert "line 3" in info.value.hint


def test_check_is_clean_with_defaults() -> None:
    assert Renderer(None, BRANDING).check() == []


def test_check_reports_problems_without_raising(tmp_path: Path) -> None:
    (tmp_path / "digest.mjml.j2").write_text("<mjml>\n{% if %}\n</mjml>\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("{{ not a template", encoding="utf-8")
    branding = BRANDING._replace(subject="{{ title", preheader="{{ excerpts | nofilter }}")
    problems = Renderer(tmp_path, branding).check()
    assert len(problems) == 3, problems
    assert any("digest.mjml.j2, line 2" in p for p in problems)
    assert any(p.startswith("digest.yaml subject, line 1") for p in problems)
    assert any("preheader" in p and "nofilter" in p for p in problems)


def test_check_renders_a_sample_to_catch_runtime_errors(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "excerpt.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>\n{{ excerpt.summary }}\n"
        "</mj-text></mj-column></mj-section>\n",
        encoding="utf-8",
    )
    problems = Renderer(tmp_path, BRANDING).check()
    assert len(problems) == 1
    assert "excerpt.mjml.j2, line 2" in problems[0]
    assert "summary" in problems[0]


def test_a_template_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "digest.txt.j2"
    bad.write_bytes(b"{{ title }}\n\xff\xfe junk\n")
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert info.value.message == f"{bad}: not valid UTF-8 (line 2: byte 0xff)"
    assert "UTF-8" in info.value.hint
    assert Renderer(tmp_path, BRANDING).check() == [info.value.message]


def test_an_included_file_that_is_not_utf8_is_named_not_its_includer(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    bad = tmp_path / "partials" / "excerpt.mjml.j2"
    bad.write_bytes("<mj-text>café</mj-text>\n".encode("latin-1"))
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert info.value.message == f"{bad}: not valid UTF-8 (line 1: byte 0xe9)"


@pytest.mark.parametrize("name", ["digest.mjml.j2", "digest.txt.j2", "partials/excerpt.txt.j2"])
def test_a_python_error_in_a_template_names_file_and_line(tmp_path: Path, name: str) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / name).write_text("{{ title }}\n{{ 1/0 }}\n", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert info.value.message == f"{tmp_path / name}, line 2: ZeroDivisionError: division by zero"


def test_a_template_too_deep_for_python_is_a_template_error(tmp_path: Path) -> None:
    # Jinja2 compiles this to Python with more nested blocks than Python allows: it fails
    # outside every template line, so only the file can be named.
    deep = tmp_path / "digest.txt.j2"
    deep.write_text("{% for a in [1] %}" * 25 + "x" + "{% endfor %}" * 25, encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        render(templates=tmp_path)
    assert info.value.message.startswith(f"{deep}: SyntaxError: too many statically nested")
    assert info.value.hint
    problems = Renderer(tmp_path, BRANDING).check()
    assert len(problems) == 1 and problems[0].startswith(f"{deep}: SyntaxError")


def test_a_subject_too_deep_for_python_is_a_template_error() -> None:
    subject = "{{ " + "(" * 300 + "title" + ")" * 300 + " }}"
    with pytest.raises(TemplateError, match=r"^digest\.yaml subject: RecursionError"):
        render(branding=BRANDING._replace(subject=subject))


def test_cached_subject_follows_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Subject and preheader strings go through the bytecode cache, keyed by their text."""
    cache = tmp_path / "cache"
    first = BRANDING._replace(subject="First {{ title }}", preheader="Pre {{ issue.number }}")
    assert Renderer(None, first, cache).render(ISSUE, [excerpt(1)]).subject == "First Test Weekly"
    compiled: list[str] = []
    compile_source = jinja2.Environment.compile

    def counting(env: jinja2.Environment, source: Any, name: Any = None, *a: Any, **k: Any) -> Any:
        compiled.append(str(name))
        return compile_source(env, source, name, *a, **k)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    again = Renderer(None, first, cache).render(ISSUE, [excerpt(1)])
    assert (again.subject, again.preheader) == ("First Test Weekly", "Pre 7")
    assert compiled == []  # every template and both strings read back, none compiled anew
    second = first._replace(subject="Second {{ title }}")
    assert Renderer(None, second, cache).render(ISSUE, [excerpt(1)]).subject == (
        "Second Test Weekly"
    )
    assert compiled == ["<digest.yaml subject>"]  # only the changed string


def test_cached_subject_errors_still_name_the_key(tmp_path: Path) -> None:
    broken = BRANDING._replace(subject="{{ title ")
    with pytest.raises(TemplateError, match=r"digest\.yaml subject"):
        Renderer(None, broken, tmp_path / "cache").render(ISSUE, [excerpt(1)])


def test_each_renderer_has_its_own_cache_and_the_same_output() -> None:
    """Rendering is pure: two renderers, or one twice, give the same issue, sharing nothing."""
    first, second = Renderer(None, BRANDING), Renderer(None, BRANDING)
    excerpts = [excerpt(1), excerpt(2)]
    assert first.render(ISSUE, excerpts) == second.render(ISSUE, excerpts)
    assert first.render(ISSUE, excerpts) == second.render(ISSUE, excerpts)
    assert first.cache is not second.cache


def test_the_render_cache_reuses_results_and_keeps_at_most_its_limit() -> None:
    cache = RenderCache(limit=2)
    body = cache.markdown("Some *emphasis*.")
    assert cache.markdown("Some *emphasis*.") is body  # the same object: not rendered again
    assert body.html == "<p>Some <em>emphasis</em>.</p>\n"
    cache.markdown("two")
    cache.markdown("three")  # the oldest, "Some *emphasis*.", goes
    assert cache.markdown("Some *emphasis*.") is not body
    styled = cache.inline_css("<p>x</p>", "p { color: red; }")
    assert styled == '<p style="color: red;">x</p>'
    assert cache.inline_css("<p>x</p>", "p { color: red; }") is styled


def test_inline_css_that_matches_every_element_keeps_the_fragment_whole(tmp_path: Path) -> None:
    one_text_template(
        tmp_path, "{{ excerpts[0].html | inline_css('* { color: #123456; } div { margin: 0; }') }}"
    )
    out = render(excerpt(1), templates=tmp_path)
    assert re.search(r'<p style="color:\s*#123456;?">The body of post 1', out.html)
    assert out.html.count("<div") == out.html.count("</div>")
