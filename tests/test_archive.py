"""The web archive: web versions, index.html and feed.xml, built after every issue."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_excerpt
from newsletter_digest.app import issues as build
from newsletter_digest.archive import feed
from newsletter_digest.archive import pages as archive
from newsletter_digest.config.loading import Config, load_config
from newsletter_digest.errors import ConfigError

Digest = Callable[..., Result]
BASE = "https://news.example.org/weekly"
START = datetime(2026, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=1)))
MARKUP_TITLE = "<script>alert(1)</script> Tom & Jerry"


def configure(project: Path, extra: str = "") -> Config:
    """The fixture project's config plus ``extra`` YAML lines, loaded."""
    path = project / "digest.yaml"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return load_config(path)


def build_issues(config: Config, count: int) -> None:
    """Make ``count`` issues a week apart."""
    for week in range(count):
        build.build(config, START + timedelta(weeks=week))


def parse_feed(project: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse((project / "public" / "feed.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


class PageReader(HTMLParser):
    """The element names and the text of an HTML page, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.chunks).split())


def add_markup_excerpt(project: Path) -> None:
    """Leave one excerpt only, whose title is markup (and whose url has an &)."""
    for path in (project / "content").glob("*.md"):
        path.unlink()
    write_excerpt(project / "content", "markup", MARKUP_TITLE, url="https://example.org/m?a=1&b=2")


# --- feed ---------------------------------------------------------------------------------


def test_feed_has_every_issue_newest_first_with_absolute_links(project: Path) -> None:
    config = configure(project, f"base_url: {BASE}/\n")
    build_issues(config, 3)
    parsed = parse_feed(project)
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Test Weekly"
    assert [link.href for link in parsed.feed.links] == [f"{BASE}/", f"{BASE}/feed.xml"]
    entries = parsed.entries
    assert [e.title.split(":")[0] for e in entries] == [
        "Test Weekly #3",
        "Test Weekly #2",
        "Test Weekly #1",
    ]
    assert [e.link for e in entries] == [f"{BASE}/issue-{n:04d}/" for n in (3, 2, 1)]
    assert entries[0].id == "tag:example.org,2026-01-19:news/issue-3"
    assert entries[2].updated == "2026-01-05T09:30:00+01:00"
    assert parsed.feed.updated == "2026-01-19T09:30:00+01:00"
    titles = [row[0] for row in _titles(project, 3)]
    content = entries[0].content[0]
    assert content.type == "text/html"
    for title in titles:
        assert title in content.value
    assert 'href="https://example.org/post-' in content.value


def _titles(project: Path, number: int) -> list[tuple[str]]:
    db = sqlite3.connect(project / ".digest" / "state.db")
    rows = db.execute(
        "SELECT title FROM picks WHERE issue_number = ? ORDER BY position", (number,)
    ).fetchall()
    db.close()
    return rows


def test_without_base_url_the_feed_links_relatively_and_emails_have_no_web_links(
    project: Path,
) -> None:
    config = configure(project)
    build_issues(config, 2)
    # Where the archive happens to be served: readers resolve the feed's links against it.
    served = "https://somewhere.example/news/feed.xml"
    parsed = feedparser.parse(
        (project / "public" / "feed.xml").read_bytes(),
        response_headers={"content-location": served, "content-type": "application/atom+xml"},
    )
    assert not parsed.bozo, parsed.get("bozo_exception")
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links == {"self": served, "alternate": "https://somewhere.example/news/"}
    assert [e.link for e in parsed.entries] == [
        f"https://somewhere.example/news/issue-000{n}/" for n in (2, 1)
    ]
    assert all("issue-000" not in entry.content[0].value for entry in parsed.entries)
    folder = project / "outbox" / "issue-0001"
    for name in ("issue-0001.html", "issue-0001.txt", "issue-0001.eml"):
        assert "View in browser" not in (folder / name).read_text(encoding="utf-8")
    # The archive itself links relatively, which works from any host or from the disk.
    index = (project / "public" / "index.html").read_text(encoding="utf-8")
    assert 'href="issue-0002/index.html"' in index


class Attributes(HTMLParser):
    """Every (tag, attribute) pair in an HTML fragment."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.pairs: set[tuple[str, str]] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.pairs |= {(tag, name) for name, _ in attrs}


@pytest.mark.parametrize("base_url", [f"base_url: {BASE}\n", ""])
def test_feed_entries_are_semantic_html_without_styles_and_the_feed_links_itself(
    project: Path, digest: Digest, base_url: str
) -> None:
    """Issue 23: entries carried the email's style attributes (the W3C validator warns
    "style attribute contains potentially dangerous content"), and without base_url the
    feed had no rel="self" link."""
    configure(project, base_url + "per_issue: 7\n")
    body = "Text with a [link](https://example.org/a).\n\n![A chart](https://example.org/c.png)"
    write_excerpt(project / "content", "chart", "A chart", body, url="https://example.org/c")
    assert digest("build").exit_code == 0, digest("build").output
    xml = (project / "public" / "feed.xml").read_text(encoding="utf-8")
    root = ET.fromstring(xml)
    atom = "{http://www.w3.org/2005/Atom}"
    (content,) = [e.findtext(f"{atom}content") or "" for e in root.findall(f"{atom}entry")]
    pairs = Attributes(content).pairs
    assert ("img", "src") in pairs and ("a", "href") in pairs
    assert not [pair for pair in pairs if pair[1] in ("style", "width", "class", "bgcolor")]
    assert not {"table", "td", "div"} & {tag for tag, _ in pairs}
    assert "<h2>" in content and "<p>" in content
    parsed = parse_feed(project)
    selfs = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert selfs == [f"{BASE}/feed.xml" if base_url else "feed.xml"]
    assert "style" not in parsed.entries[0].content[0].value
    warned = "feed.xml: without base_url its links (rel=self included) are relative"
    assert (warned in digest("check").output) == (not base_url)


def test_feed_keeps_only_the_configured_number_of_issues(project: Path) -> None:
    config = configure(project, "archive:\n  feed_items: 2\n")
    build_issues(config, 3)
    entries = parse_feed(project).entries
    assert [e.id.rsplit("-", 1)[1] for e in entries] == ["3", "2"]
    index = (project / "public" / "index.html").read_text(encoding="utf-8")
    assert all(f"issue-{n:04d}/index.html" in index for n in (1, 2, 3))


def test_entry_ids_and_content_are_stable_across_rebuilds(project: Path) -> None:
    config = configure(project, f"base_url: {BASE}\n")
    build_issues(config, 2)
    first = (project / "public" / "feed.xml").read_bytes()
    result = archive.rebuild_archive(config)
    assert result.changed == ()
    assert (project / "public" / "feed.xml").read_bytes() == first
    ids = [e.id for e in parse_feed(project).entries]
    assert len(set(ids)) == 2 and all(i.startswith("tag:example.org,2026-01-") for i in ids)


def test_feed_times_without_an_offset_are_utc() -> None:
    assert feed.rfc3339(feed.moment("2026-01-05T09:30:00")) == "2026-01-05T09:30:00+00:00"
    assert feed.tag_uri("A <News@Example.ORG>", date(2026, 1, 5), "/issue-1") == (
        "tag:example.org,2026-01-05:News/issue-1"
    )


@settings(max_examples=200, deadline=None)
@given(
    title=st.text(max_size=40),
    subject=st.text(max_size=80),
    titles=st.lists(st.text(max_size=30), max_size=3),
)
def test_any_text_makes_a_well_formed_feed_that_reads_back(
    title: str, subject: str, titles: list[str]
) -> None:
    """Whatever the texts hold (markup, quotes, controls, lone surrogates), the feed parses
    strictly and says them back, less only the characters XML cannot carry."""
    entry = feed.IssueEntry(
        number=3,
        date=date(2026, 1, 5),
        created_at="2026-01-05T09:30:00+01:00",
        subject=subject,
        titles=tuple(titles),
        href="issue-0003/index.html",
        url=f"{BASE}/issue-0003/?a=1&b='2'",
    )
    data = feed.atom_feed(
        title=title,
        sender="News <news@example.org>",
        since=date(2026, 1, 5),
        base_url=BASE,
        entries=[entry],
    )
    root = ET.fromstring(data)
    ns = {"a": feed.ATOM}
    allowed = re.compile("[^\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

    def kept(text: str) -> str:
        return "".join(allowed.findall(text))

    assert (root.findtext("a:title", namespaces=ns) or "") == kept(title)
    assert (root.findtext("a:entry/a:title", namespaces=ns) or "") == kept(subject)
    link = root.find("a:entry/a:link", ns)
    assert link is not None and link.get("href") == f"{BASE}/issue-0003/?a=1&b='2'"
    content = root.findtext("a:entry/a:content", namespaces=ns) or ""
    listed = "".join(kept(t) for t in titles)  # one <li> each, read back end to end
    assert PageReader(content).text == " ".join(f"{listed}\nRead this issue on the web".split())


def test_feed_values_keep_their_line_ends_and_tabs() -> None:
    """A parser normalises raw CR (and, in attributes, LF and tab); written as references."""
    entry = feed.IssueEntry(
        1, date(2026, 1, 5), "2026-01-05T09:30:00", "S", (), "issue-0001/", None
    )
    data = feed.atom_feed(
        title="a\r\nb\rc",
        sender="news@example.org",
        since=date(2026, 1, 5),
        base_url=None,
        entries=[entry],
        language="1\t2\n3\r4 <&\"'>",
    )
    element = ET.fromstring(data)
    assert element.findtext(f"{{{feed.ATOM}}}title") == "a\r\nb\rc"
    assert element.get("{http://www.w3.org/XML/1998/namespace}lang") == "1\t2\n3\r4 <&\"'>"


def test_the_feed_is_written_by_feedgenerator_a_runtime_dependency() -> None:
    """Issue 26: the feed was assembled from strings; a maintained library writes it now."""
    import tomllib

    root = Path(__file__).parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(dep.startswith("feedgenerator") for dep in project["dependencies"])
    source = (root / "src" / "newsletter_digest" / "archive" / "feed.py").read_text()
    assert "from feedgenerator import Atom1Feed" in source and "<feed" not in source


# --- markup in titles -------------------------------------------------------------------


def test_markup_in_a_title_is_text_in_the_archive_the_feed_and_the_web_version(
    project: Path,
) -> None:
    add_markup_excerpt(project)
    config = configure(project, f"base_url: {BASE}\nper_issue: 1\n")
    build_issues(config, 1)
    public = project / "public"
    for page in (public / "index.html", public / "issue-0001" / "index.html"):
        reader = PageReader(page.read_text(encoding="utf-8"))
        assert "script" not in reader.tags, page
        assert MARKUP_TITLE in reader.text, page
    entry = parse_feed(project).entries[0]
    assert entry.title == f"Test Weekly #1: {MARKUP_TITLE}"
    assert MARKUP_TITLE in PageReader(entry.content[0].value).text
    # feedparser sanitizes HTML content, so look at the content as written, before that.
    raw = ET.parse(public / "feed.xml").find(f"{{{feed.ATOM}}}entry/{{{feed.ATOM}}}content")
    assert raw is not None and raw.text is not None
    content = PageReader(raw.text)
    assert "script" not in content.tags and "a" in content.tags
    assert MARKUP_TITLE in content.text
    assert 'href="https://example.org/m?a=1&amp;b=2"' in entry.content[0].value


# --- web versions ---------------------------------------------------------------------------


def test_web_version_has_no_personal_fields_and_links_back(project: Path) -> None:
    config = configure(
        project, f'base_url: {BASE}\nunsubscribe: "https://example.org/u?who={{email}}"\n'
    )
    build_issues(config, 1)
    folder = project / "outbox" / "issue-0001"
    email_html = (folder / "issue-0001.html").read_text(encoding="utf-8")
    web = (project / "public" / "issue-0001" / "index.html").read_text(encoding="utf-8")
    assert f"{BASE}/unsubscribe/" in email_html  # with base_url, the one-click page
    assert f'href="{BASE}/issue-0001/"' in email_html
    assert "reader@example.org" not in web
    assert "x-digest-recipient" not in web
    assert "View in browser" not in web
    assert "Unsubscribe" not in web
    assert 'href="../index.html"' in web
    assert "Post number" in web
    text = (folder / "issue-0001.txt").read_text(encoding="utf-8")
    assert text.startswith(f"View in browser: {BASE}/issue-0001/\n")
    eml = (folder / "issue-0001.eml").read_bytes()
    assert b"View in browser" in eml


PERSONAL_FOOTER = """\
<mj-section>
  <mj-column>
    <mj-text css-class="footer">Sent to {{ recipient.email }}.
      <a href="{{ unsubscribe }}">Leave the list</a></mj-text>
  </mj-column>
</mj-section>
"""


@pytest.mark.parametrize("kept_in_state", [True, False])
def test_personal_fields_of_any_template_stay_out_of_the_web_version(
    project: Path, kept_in_state: bool
) -> None:
    partials = project / "templates" / "partials"
    partials.mkdir(parents=True)
    (partials / "footer.mjml.j2").write_text(PERSONAL_FOOTER, encoding="utf-8")
    config = configure(project, 'unsubscribe: "https://example.org/u?who={email}"\n')
    build_issues(config, 1)
    folder = project / "outbox" / "issue-0001"
    assert "Sent to reader@example.org." in (folder / "issue-0001.html").read_text("utf-8")
    if not kept_in_state:  # e.g. an issue recovered after a crash: only the outbox copy is left
        db = sqlite3.connect(project / ".digest" / "state.db")
        db.execute("DELETE FROM issue_bodies")
        db.commit()
        db.close()
        (project / "public" / "issue-0001" / "index.html").unlink()
        archive.rebuild_archive(config)
    web = (project / "public" / "issue-0001" / "index.html").read_text(encoding="utf-8")
    assert "Sent to ." in PageReader(web).text
    assert "reader@example.org" not in web and "reader%40example.org" not in web
    assert "x-digest-recipient" not in web
    assert 'href="https://example.org/u?who="' in web


@pytest.mark.parametrize(
    "written",
    ["o&#39;neil@example.org", "o&#x27;neil@example.org", "o%27neil@example.org", "o'neil@x"],
)
def test_an_address_with_a_quote_is_scrubbed_however_it_was_escaped(written: str) -> None:
    """Outbox copies from older versions wrote a quote as &#x27;; this one writes &#39;."""
    address = "o'neil@example.org" if written != "o'neil@x" else written
    html = f"<p>Sent to {written}.</p>"
    assert archive._scrub(html, address) == "<p>Sent to .</p>"


def test_web_version_of_bare_html_still_links_back() -> None:
    page = archive.web_version("<p>hello</p>")
    assert page.index(archive.WEB_NAV) < page.index("<p>hello</p>")
    marked = (
        '<html><head></head><body><table><tr><td class="footer unsubscribe" align="center">'
        '<div><a href="https://x.example/u">Unsubscribe</a></div></td></tr>'
        '<tr><td class="footer"><div>kept</div></td></tr></table></body></html>'
    )
    web = archive.web_version(marked)
    assert "Unsubscribe" not in web and "kept" in web
    assert web.index("<style>") < web.index("</head>") < web.index(archive.WEB_NAV)


# --- the archive page -----------------------------------------------------------------------


def test_index_lists_issues_newest_first_with_date_subject_and_titles(project: Path) -> None:
    config = configure(project)
    build_issues(config, 3)
    index = (project / "public" / "index.html").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r'href="issue-(\d{4})/index.html"', index)]
    assert numbers == [3, 2, 1]
    assert "19 January 2026" in index and "5 January 2026" in index
    assert "Test Weekly #2:" in index
    for (title,) in _titles(project, 2):
        assert f"<li>{title}</li>" in index
    assert 'name="viewport"' in index and "prefers-color-scheme: dark" in index
    assert 'type="application/atom+xml"' in index


def test_every_build_rebuilds_the_archive_atomically(project: Path, digest: Digest) -> None:
    assert digest("build").exit_code == 0
    public = project / "public"
    assert "issue-0001/index.html" in (public / "index.html").read_text(encoding="utf-8")
    assert digest("build").exit_code == 0
    assert "issue-0002/index.html" in (public / "index.html").read_text(encoding="utf-8")
    assert (public / "issue-0002" / "index.html").is_file()
    assert len(parse_feed(project).entries) == 2
    assert list(public.rglob(".*")) == []
    # A temp file left by a killed writer is cleared by the next rebuild.
    (public / ".index.html.tmp-99999").write_text("half", encoding="utf-8")
    assert digest("archive").exit_code == 0
    assert list(public.rglob(".*")) == []


def test_archive_command_rebuilds_after_a_template_change_and_leaves_eml(
    project: Path, digest: Digest
) -> None:
    assert digest("build").exit_code == 0
    assert digest("build").exit_code == 0
    outbox = project / "outbox"
    public = project / "public"
    emls = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in outbox.rglob("*.eml")}
    (public / "feed.xml").unlink()
    (public / "issue-0001" / "index.html").unlink()
    templates = project / "templates"
    templates.mkdir()
    (templates / archive.TEMPLATE).write_text(
        "<h1>{{ title }} archive</h1>{% for i in issues %}<a href='{{ i.href }}'>"
        "{{ i.subject }}</a>{% endfor %}",
        encoding="utf-8",
    )
    result = digest("archive")
    assert result.exit_code == 0, result.output
    assert "Archive of 2 issues" in result.output
    assert "<h1>Test Weekly archive</h1>" in (public / "index.html").read_text(encoding="utf-8")
    assert (public / "issue-0001" / "index.html").is_file()
    assert len(parse_feed(project).entries) == 2
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in outbox.rglob("*.eml")} == emls


def test_a_broken_archive_template_warns_but_never_stops_the_issue(
    project: Path, digest: Digest
) -> None:
    templates = project / "templates"
    templates.mkdir()
    (templates / archive.TEMPLATE).write_text("{{ issues | nosuchfilter }}", encoding="utf-8")
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "web archive was not updated" in result.output
    assert (project / "outbox" / "issue-0001" / "issue-0001.eml").is_file()
    # The web version does not depend on the template, so the email's link never breaks.
    assert (project / "public" / "issue-0001" / "index.html").is_file()
    failed = digest("archive")
    assert failed.exit_code == 1
    assert "archive.html.j2" in failed.output and "hint:" in failed.output


def test_an_archive_template_that_fails_at_render_time_still_makes_the_issue(
    project: Path, digest: Digest
) -> None:
    templates = project / "templates"
    templates.mkdir()
    (templates / archive.TEMPLATE).write_text("<h1>{{ title }}</h1>\n{{ 1/0 }}\n")
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "web archive was not updated" in result.output
    assert f"{templates / archive.TEMPLATE}, line 2: ZeroDivisionError" in result.output
    assert (project / "outbox" / "issue-0001" / "issue-0001.eml").is_file()
    assert digest("history").output.count("Test Weekly #") == 1
    failed = digest("archive")
    assert failed.exit_code == 1
    assert "ZeroDivisionError" in failed.output and "hint:" in failed.output


def test_an_archive_template_that_is_not_utf8_is_a_warning_for_build(
    project: Path, digest: Digest
) -> None:
    templates = project / "templates"
    templates.mkdir()
    (templates / archive.TEMPLATE).write_bytes(b"<h1>{{ title }}</h1>\n\xff\xfe junk\n")
    result = digest("build")
    assert result.exit_code == 0, result.output
    assert f"{templates / archive.TEMPLATE}: not valid UTF-8 (line 2" in result.output
    assert (project / "outbox" / "issue-0001" / "issue-0001.eml").is_file()
    failed = digest("archive")
    assert failed.exit_code == 1
    assert isinstance(failed.exception, SystemExit)
    assert "not valid UTF-8" in failed.output and "hint: save the file as UTF-8" in failed.output


def test_any_archive_failure_is_only_a_warning_once_the_issue_is_recorded(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(config: Config, issues: object = None) -> archive.ArchiveResult:
        raise RuntimeError("a bug in the archive")

    monkeypatch.setattr(archive, "rebuild_archive", broken)
    result = build.build(load_config(project / "digest.yaml"), START)
    assert result.record.number == 1
    assert (project / "outbox" / "issue-0001" / "issue-0001.eml").is_file()
    assert any("RuntimeError: a bug in the archive" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"<ul>\n{% for i in issues %}{{ 1/0 }}{% endfor %}\n</ul>\n", "line 2: ZeroDivision"),
        (b"{% if issues %}{{ issues[0].summary }}{% endif %}", "no attribute 'summary'"),
        (b"<h1>{{ title }}</h1>\n\xff\n", "not valid UTF-8 (line 2: byte 0xff)"),
    ],
)
def test_check_renders_the_archive_template(
    project: Path, digest: Digest, source: bytes, message: str
) -> None:
    templates = project / "templates"
    templates.mkdir()
    (templates / archive.TEMPLATE).write_bytes(source)
    result = digest("check")
    assert result.exit_code == 1, result.output
    assert "everything is ready" not in result.output
    assert result.output.count(archive.TEMPLATE) == 1, result.output
    assert f"templates: {templates / archive.TEMPLATE}" in result.output
    assert message in result.output


def test_check_is_clean_with_the_built_in_archive_template(project: Path) -> None:
    config = configure(project, f"base_url: {BASE}\n")
    assert archive.check_template(config) == []


def test_an_issue_whose_folder_is_gone_is_left_out(project: Path, digest: Digest) -> None:
    assert digest("build").exit_code == 0
    assert digest("build").exit_code == 0
    outbox = project / "outbox"
    (outbox / "issue-0001").rename(project / "issue-0001-away")
    result = digest("archive")
    assert result.exit_code == 0
    assert "issue #1" in result.output and "left out" in result.output
    index = (project / "public" / "index.html").read_text(encoding="utf-8")
    assert "issue-0001/" not in index and "issue-0002/index.html" in index


def test_a_stray_folder_with_the_same_number_hides_no_issue(project: Path, digest: Digest) -> None:
    assert digest("build").exit_code == 0
    outbox = project / "outbox"
    (outbox / "issue-00001").mkdir()  # same number, another spelling: not the recorded one
    result = digest("archive")
    assert result.exit_code == 0, result.output
    assert "left out" not in result.output
    index = (project / "public" / "index.html").read_text(encoding="utf-8")
    assert "issue-0001/index.html" in index


def test_archive_before_any_issue_says_so_and_writes_no_feed(project: Path, digest: Digest) -> None:
    result = digest("archive")
    assert result.exit_code == 0, result.output
    assert "No issues yet." in (project / "public" / "index.html").read_text(encoding="utf-8")
    assert not (project / "public" / "feed.xml").exists()
    assert not (project / ".digest" / "state.db").exists()


# --- config ---------------------------------------------------------------------------------


def test_base_url_loses_its_final_slash_and_feed_items_defaults_to_20(project: Path) -> None:
    config = configure(project, f"base_url: {BASE}/\n")
    assert config.settings.base_url == BASE
    assert config.settings.archive.feed_items == 20


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("base_url: ftp://example.org", "base_url: 'ftp://example.org' is not an http(s) URL"),
        ("base_url: example.org/news", "is not an http(s) URL"),
        ("base_url: https://example.org/?a=1", "no ?query or #fragment"),
        ("archive:\n  feed_items: 0", "archive.feed_items: expected an integer >= 1"),
        ("archive:\n  feed_item: 5", "archive.feed_item: unknown key; did you mean 'feed_items'?"),
    ],
)
def test_bad_archive_settings_are_named(project: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        configure(project, line + "\n")
    assert message in caught.value.message


def test_a_build_rewrites_only_its_own_web_version_and_archive_rewrites_all(
    project: Path, digest: Callable[..., Result]
) -> None:
    config = configure(project)
    build_issues(config, 2)
    old = project / "public" / "issue-0001" / archive.INDEX
    old.write_text("stale web version")
    missing = project / "public" / "issue-0002" / archive.INDEX
    missing.unlink()
    build_issues(config, 1)
    assert old.read_text() == "stale web version"  # a build leaves past issues alone
    assert missing.exists()  # but writes a web version that is missing
    assert (project / "public" / "issue-0003" / archive.INDEX).exists()
    assert digest("archive").exit_code == 0
    assert "stale web version" not in old.read_text()


def test_the_feed_has_self_link_language_and_distinct_updated_times(project: Path) -> None:
    config = configure(project, f"base_url: {BASE}\nlanguage: de\n")
    build_issues(config, 3)  # within a second or so: equal timestamps are likely
    db = sqlite3.connect(project / ".digest" / "state.db")
    db.execute("UPDATE issues SET created_at = '2026-12-01T09:00:00+00:00'")  # the same second
    db.commit()
    db.close()
    archive.rebuild_archive(config)
    feed = (project / "public" / "feed.xml").read_text(encoding="utf-8")
    root = ET.fromstring(feed)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "de"
    selfs = root.findall("a:link[@rel='self']", ns)
    assert [link.get("href") for link in selfs] == [f"{BASE}/feed.xml"]
    updated = [e.findtext("a:updated", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert len(set(updated)) == 3 and updated == sorted(updated, reverse=True)
    page = (project / "public" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="de"' in page
    email_html = (project / "outbox" / "issue-0001" / "issue-0001.html").read_text()
    assert '<html lang="de"' in email_html


def test_the_feed_meets_rfc_4287s_musts(project: Path) -> None:
    """What RFC 4287 requires of a feed and its entries (the W3C validator and the RFC's
    RELAX NG schema cannot be installed here; these are the rules they check)."""
    config = configure(project, f"base_url: {BASE}\n")
    build_issues(config, 3)
    root = ET.fromstring((project / "public" / "feed.xml").read_bytes())
    atom = "{http://www.w3.org/2005/Atom}"
    rfc3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
    assert root.tag == f"{atom}feed"

    def one(parent: ET.Element, name: str) -> ET.Element:
        found = parent.findall(f"{atom}{name}")
        assert len(found) == 1, (name, len(found))  # exactly one id, title, updated
        return found[0]

    assert re.fullmatch(r"tag:[^,]+,\d{4}-\d\d-\d\d:.*", one(root, "id").text or "")
    assert (one(root, "title").text or "").strip()
    assert rfc3339.fullmatch(one(root, "updated").text or "")
    assert one(root, "author").find(f"{atom}name") is not None  # entries inherit it
    alternates = [ln for ln in root.findall(f"{atom}link") if ln.get("rel") == "alternate"]
    assert len({(ln.get("type"), ln.get("hreflang")) for ln in alternates}) == len(alternates)
    ids = set()
    for entry in root.findall(f"{atom}entry"):
        ids.add(one(entry, "id").text)
        assert (one(entry, "title").text or "").strip()
        assert rfc3339.fullmatch(one(entry, "updated").text or "")
        assert rfc3339.fullmatch(one(entry, "published").text or "")
        content = entry.findall(f"{atom}content")
        links = [ln for ln in entry.findall(f"{atom}link") if ln.get("rel") == "alternate"]
        assert content or links  # an entry without content must link to it
        assert all(c.get("type") in ("text", "html", "xhtml") for c in content)
    assert len(ids) == 3  # every entry its own id


# --- what is published (issue 24) -------------------------------------------------------------

READERS = ("ann@example.org", "bob@example.org")
TOKEN_LINK = re.compile(r"/(?:unsubscribe|confirm)/([A-Za-z0-9_.-]{20,})")


def private_project(project: Path, digest: Digest) -> Config:
    """Two issues to two readers through the pickup folder (each message with the reader's
    unsubscribe link) and a subscription confirmation in outbox/notices/."""
    path = project / "digest.yaml"
    text = path.read_text().replace("recipients: [reader@example.org]\n", "")
    path.write_text(
        text + f"recipients: [{', '.join(READERS)}]\nper_recipient: true\nbase_url: {BASE}\n"
    )
    config = load_config(path)
    assert digest("build").exit_code == 0
    assert digest("build").exit_code == 0
    from newsletter_digest.delivery.send import send_notice
    from newsletter_digest.mail import notices

    link = f"{BASE}/confirm/{'c' * 40}"
    message, _ = notices.confirmation("T", "news@example.org", "cy@example.org", link, START)
    assert send_notice(config, message, "cy@example.org").verdict == "sent"
    return config


def message_text(path: Path) -> str:
    """Every text part of a message, decoded (quoted-printable wraps long links)."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return "\n".join(
        str(part.get_content()) for part in message.walk() if part.get_content_maintype() == "text"
    )


def test_the_public_folder_holds_no_address_token_or_message(project: Path, digest: Digest) -> None:
    private_project(project, digest)
    outbox, public = project / "outbox", project / "public"
    private = [*outbox.glob("issue-*/messages/*.eml"), *outbox.glob("notices/*.eml")]
    tokens = {t for p in private for t in TOKEN_LINK.findall(message_text(p))}
    assert len(private) == 5 and len(tokens) == 3  # 2 readers' tokens, and the notice's
    published = sorted(str(p.relative_to(public)) for p in public.rglob("*") if p.is_file())
    assert published == [
        "feed.xml",
        "index.html",
        "issue-0001/index.html",
        "issue-0002/index.html",
    ]
    for path in public.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not [a for a in (*READERS, "cy@example.org") if a in text], path
            assert not [t for t in tokens if t in text], path
    assert not archive.archive_files(outbox)  # nothing in the outbox looks publishable
    check = digest("check")
    assert "private files" not in check.output and "older version" not in check.output
    # A careless copy of the outbox into the folder to publish is named by check.
    (public / "notices").mkdir()
    for eml in outbox.glob("notices/*.eml"):
        (public / "notices" / eml.name).write_bytes(eml.read_bytes())
    (public / "issue-0001" / "copy.html").write_text(f"{BASE}/unsubscribe/{min(tokens)}")
    warned = digest("check").output
    assert "holds private files" in warned
    assert "notices/cy@example.org" in warned and "issue-0001/copy.html" in warned


def test_an_archive_in_the_outbox_moves_to_the_public_folder(project: Path, digest: Digest) -> None:
    """An older version wrote the archive into the outbox, which its docs said to upload."""
    assert digest("build").exit_code == 0
    outbox, public = project / "outbox", project / "public"
    for name in ("index.html", "feed.xml", "issue-0001/index.html"):
        (outbox / name).write_bytes((public / name).read_bytes())
    shutil.rmtree(public)
    check = digest("check")
    assert f"{outbox} holds the web archive of an older version (3 files)" in check.output
    result = digest("archive")
    assert result.exit_code == 0, result.output
    assert f"the web archive now has a folder of its own, {public}" in result.output
    assert "the 3 archive files" in result.output
    assert not archive.archive_files(outbox)
    assert sorted(p.name for p in outbox.glob("issue-0001/*")) == [
        "excerpts.json",
        "issue-0001.eml",
        "issue-0001.html",
        "issue-0001.txt",
        "issue.json",
    ]
    assert len(archive.archive_files(public)) == 3
    assert "older version" not in digest("check").output
    assert "now has a folder of its own" not in digest("archive").output  # said once


@pytest.mark.parametrize(
    ("extra", "folder"),
    [("", "."), ("", "outbox"), ("", ".."), ("state: public/state.db\n", "public")],
)
def test_the_public_folder_may_not_hold_the_outbox_or_the_state(
    project: Path, extra: str, folder: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        configure(project, f"{extra}archive:\n  folder: {folder}\n")
    assert "archive.folder" in caught.value.message
    assert "must never be published" in caught.value.message


def test_serve_answers_only_from_the_public_folder(project: Path, digest: Digest) -> None:
    from test_serve import Running

    private_project(project, digest)
    running = Running(project)
    try:
        notice = next((project / "outbox" / "notices").glob("*.eml")).name
        message = next((project / "outbox" / "issue-0001" / "messages").glob("*.eml")).name
        client = running.client
        for path in ("/", "/feed.xml", "/issue-0001/", "/issue-0002/index.html"):
            assert client.get(path).status_code == 200, path
        for path in (
            f"/notices/{notice}",
            "/notices/",
            f"/outbox/notices/{notice}",
            "/issue-0001/issue-0001.eml",
            f"/issue-0001/messages/{message}",
            "/issue-0001/messages/",
            "/issue-0001/excerpts.json",
            f"/%2e%2e/outbox/notices/{notice}",
            f"/issue-0001/..%2f..%2foutbox%2fnotices%2f{notice}",
            "/..%2foutbox%2fissue-0001%2fissue-0001.eml",
            "/.digest/secret",
        ):
            response = client.get(path)
            assert response.status_code in (400, 404), path
            assert not [a for a in READERS if a in response.text], path
        # The outbox's old archive is never served, even when the public folder is gone.
        shutil.rmtree(project / "public")
        (project / "outbox" / "index.html").write_text("old archive", encoding="utf-8")
        assert client.get("/").status_code == 404
    finally:
        running.stop()
