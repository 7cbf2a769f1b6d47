"""The preview's "Send test" button in Debian's Chromium: shown with SMTP configured, it
sends the issue on screen to the address typed in, through a real SMTP server; hidden
without SMTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from newsletter_digest.config.loading import load_config
from newsletter_digest.web.preview import PreviewServer
from smtp_helpers import Server, configure

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def _preview(project: Path) -> PreviewServer:
    server = PreviewServer(load_config(project / "digest.yaml"), port=0, watch=False)
    server.start()
    return server


def test_the_button_sends_a_test_of_the_issue_on_screen(
    project: Path, page: Page, servers: Callable[..., Server]
) -> None:
    smtp = servers()
    configure(project, smtp.port)
    preview = _preview(project)
    try:
        page.goto(preview.url)
        form = page.locator("#test-send")
        expect(form).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.locator("#test-to")).to_have_value("news@example.org")
        page.locator("#test-to").fill("me@example.net")
        page.locator("#test-button").click()
        expect(page.locator("#test-status")).to_have_text(
            "sent to me@example.net; nothing recorded", timeout=TIMEOUT_MS
        )
        assert smtp.handler.wait_for(1)
        assert smtp.handler.received[0].rcpt_tos == ["me@example.net"]
        assert smtp.handler.received[0].message["Subject"].startswith("[test] ")
        assert not (project / ".digest").exists()
    finally:
        preview.stop()


def test_without_smtp_there_is_no_button(project: Path, page: Page) -> None:
    preview = _preview(project)
    try:
        page.goto(preview.url)
        expect(page.locator("body[data-version]")).to_have_count(1, timeout=TIMEOUT_MS)
        page.wait_for_load_state("networkidle")
        expect(page.locator("#test-send")).to_be_hidden()
    finally:
        preview.stop()
