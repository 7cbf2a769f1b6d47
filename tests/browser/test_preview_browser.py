"""The preview page in Debian's Chromium, driven by Playwright: what a person sees and does.

Needs /usr/bin/chromium (``.ci/run`` installs it; Playwright's own browser download does
not work here). Every wait is for a condition, with generous timeouts for a busy machine.
Screenshots land in test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from conftest import write_excerpt
from newsletter_digest.app.issues import outbox_recipient, plan_next
from newsletter_digest.config.loading import load_config
from newsletter_digest.models import RenderedIssue
from newsletter_digest.render.personal import personalize
from newsletter_digest.render.renderer import PACKAGE_TEMPLATES
from newsletter_digest.state.store import open_state
from newsletter_digest.web.preview import PreviewServer

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
expect.set_options(timeout=TIMEOUT_MS)
DARK_BACKGROUND = "rgb(22, 22, 20)"  # #161614, the shipped design's dark-mode page colour
LIGHT_BACKGROUND = "rgb(244, 243, 239)"  # #f4f3ef


@pytest.fixture
def preview(project: Path) -> Iterator[PreviewServer]:
    """The preview of the test project, on a free port."""
    (project / "templates").mkdir()
    server = PreviewServer(load_config(project / "digest.yaml"), port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def errors() -> list[str]:
    """Console errors and uncaught exceptions of the page (CSP violations show up here)."""
    return []


@pytest.fixture
def page(browser: Browser, errors: list[str]) -> Iterator[Page]:
    """A fresh desktop-sized tab."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()


def expected(project: Path, skip: int = 0) -> tuple[list[str], RenderedIssue]:
    """The titles and the outbox copy of the issue ``digest build`` would make."""
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state, readonly=True) as state:
        plan = plan_next(config, state, date.today(), use_cache=False, skip=skip)
    titles = [excerpt.title for excerpt in plan.selection.excerpts]
    return titles, personalize(plan.rendered, outbox_recipient(config))


def open_preview(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("body[data-version]")).to_have_count(1)


def test_the_page_shows_the_next_issue_on_desktop_and_phone(
    preview: PreviewServer, project: Path, page: Page, errors: list[str]
) -> None:
    titles, rendered = expected(project)
    open_preview(page, preview.url)
    expect(page.locator("#label")).to_have_text("Next issue #1")
    expect(page.locator("#h-subject")).to_have_text(rendered.subject)
    expect(page.locator("#h-from-name")).to_have_text("Test Weekly")
    expect(page.locator("#h-to")).to_have_text("reader@example.org")
    expect(page.locator("#h-preheader")).to_have_text(rendered.preheader)
    expect(page.locator("#checks li")).to_have_count(7)
    for frame in ("#frame-desktop", "#frame-phone"):
        body = page.frame_locator(frame).locator("body")
        for title in titles:
            expect(page.locator("#excerpts")).to_contain_text(title)
            expect(body).to_contain_text(title)

    phone = page.frame_locator("#frame-phone").locator("html")
    width = phone.evaluate(
        "() => ({inner: window.innerWidth,"
        " scroll: document.scrollingElement.scrollWidth,"
        " client: document.scrollingElement.clientWidth})"
    )
    assert width["inner"] == 375
    assert width["scroll"] <= width["client"], f"the phone view scrolls sideways: {width}"
    ran = (
        page.frame_locator("#frame-desktop")
        .locator("html")
        .evaluate("() => document.scripts.length")
    )
    assert ran == 0

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "preview-desktop.png")
    page.locator(".phone").screenshot(path=ARTIFACTS / "preview-phone.png")
    assert errors == []


def test_the_text_tab_shows_the_plain_text_part(
    preview: PreviewServer, project: Path, page: Page
) -> None:
    _, rendered = expected(project)
    open_preview(page, preview.url)
    expect(page.locator("#panel-text")).to_be_hidden()
    page.click("#tab-text")
    expect(page.locator("#panel-text")).to_be_visible()
    expect(page.locator("#panel-html")).to_be_hidden()
    expect(page.locator("#tab-text")).to_have_attribute("aria-selected", "true")
    assert page.locator("#text-part").text_content() == rendered.text
    page.click("#tab-html")
    expect(page.locator("#panel-html")).to_be_visible()


def test_the_dark_toggle_shows_the_emails_dark_mode(preview: PreviewServer, page: Page) -> None:
    open_preview(page, preview.url)
    desktop = page.frame_locator("#frame-desktop").locator("body")
    expect(desktop).to_have_css("background-color", LIGHT_BACKGROUND)
    page.click("#scheme-dark")
    expect(page.locator("#scheme-dark")).to_have_attribute("aria-pressed", "true")
    for frame in ("#frame-desktop", "#frame-phone"):
        expect(page.locator(frame)).to_have_attribute("src", re.compile(r"scheme=dark"))
        body = page.frame_locator(frame).locator("body")
        expect(body).to_have_css("background-color", DARK_BACKGROUND)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "preview-dark.png")
    page.click("#scheme-light")
    expect(desktop).to_have_css("background-color", LIGHT_BACKGROUND)


def test_editing_a_content_file_updates_the_open_page(
    preview: PreviewServer, project: Path, page: Page
) -> None:
    titles, _ = expected(project)
    open_preview(page, preview.url)
    expect(page.locator("#excerpts")).to_contain_text(titles[0])
    page.evaluate("() => { window.notReloaded = true; }")
    stem = next(p.stem for p in (project / "content").glob("*.md") if titles[0] in p.read_text())
    started = time.monotonic()
    write_excerpt(project / "content", stem, "Edited while the page is open")
    expect(page.locator("#excerpts")).to_contain_text("Edited while the page is open")
    seconds = time.monotonic() - started
    desktop = page.frame_locator("#frame-desktop").locator("body")
    expect(desktop).to_contain_text("Edited while the page is open")
    expect(page.locator("#excerpts")).not_to_contain_text(titles[0])
    assert page.evaluate("() => window.notReloaded === true"), "the page reloaded instead"
    print(f"the edit showed on the page after {seconds:.2f} s")


def test_a_broken_template_shows_its_error_and_the_fix_recovers(
    preview: PreviewServer, project: Path, page: Page
) -> None:
    titles, _ = expected(project)
    open_preview(page, preview.url)
    expect(page.frame_locator("#frame-desktop").locator("body")).to_contain_text(titles[0])
    template = project / "templates" / "digest.mjml.j2"
    template.write_text("<mjml>\n<mj-body>\n{% if %}\n</mj-body>\n</mjml>\n", encoding="utf-8")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error-message")).to_contain_text(f"{template}, line 3")
    expect(page.locator("#issue")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "preview-error.png")
    template.write_text((PACKAGE_TEMPLATES / "digest.mjml.j2").read_text(encoding="utf-8"))
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#issue")).to_be_visible()
    expect(page.frame_locator("#frame-desktop").locator("body")).to_contain_text(titles[0])


def test_the_issue_after_next_and_past_issues_have_pages(
    preview: PreviewServer, project: Path, page: Page, digest: object
) -> None:
    after_next, _ = expected(project, skip=1)
    open_preview(page, f"{preview.url}next?skip=1")
    expect(page.locator("#label")).to_have_text("Issue after next #2")
    for title in after_next:
        expect(page.frame_locator("#frame-desktop").locator("body")).to_contain_text(title)
    expect(page.locator('#nav a[aria-current="page"]')).to_have_text("#2")


def test_excerpt_content_is_escaped_on_the_page(
    preview: PreviewServer, project: Path, page: Page
) -> None:
    for old in (project / "content").glob("*.md"):
        old.unlink()
    evil = '<img src=x onerror="document.body.dataset.pwned=1"><script>alert("pwned")</script>'
    for n in range(3):
        write_excerpt(project / "content", f"evil-{n}", f"{evil} {n}", body=f"{evil} body")
    preview.changed()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    open_preview(page, preview.url)
    expect(page.locator("#excerpts")).to_contain_text(f"{evil} 0")
    expect(page.locator("#h-subject")).to_contain_text(evil)
    frame = page.frame_locator("#frame-desktop")
    expect(frame.locator("body")).to_contain_text(f"{evil} body")
    assert page.locator("img").count() == 0 and frame.locator("img").count() == 0
    assert frame.locator("script").count() == 0
    assert dialogs == []
    assert page.evaluate("() => document.body.dataset.pwned") is None
    assert frame.locator("body").evaluate("body => body.dataset.pwned") is None


def test_the_page_fits_a_phone_screen(preview: PreviewServer, page: Page) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    open_preview(page, preview.url)
    width = page.evaluate(
        "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert width[0] <= width[1], f"the preview page scrolls sideways on a phone: {width}"
