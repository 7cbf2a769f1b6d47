"""The public server in a real browser: a reader opens their unsubscribe link, sees one
button, presses it, and is unsubscribed; the page passes the same checks on a phone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from playwright.sync_api import Browser

from test_serve import Running, configure, reader_and_token, status

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000


@pytest.fixture
def served(project: Path, digest: Callable[..., Result]) -> Iterator[Running]:
    configure(project)
    assert digest("build").exit_code == 0
    running = Running(project)
    yield running
    running.stop()


@pytest.mark.parametrize("width", [1024, 375])
def test_a_reader_clicks_through_the_unsubscribe_page(
    browser: Browser, served: Running, project: Path, width: int
) -> None:
    _, token = reader_and_token(project)
    page = browser.new_page(viewport={"width": width, "height": 800})
    try:
        page.goto(f"http://127.0.0.1:{served.port}/unsubscribe/{token}", timeout=TIMEOUT_MS)
        assert page.get_by_role("heading", level=1).inner_text() == "Unsubscribe?"
        assert status(project) == "active"  # opening the page changed nothing
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.get_by_role("button", name="Unsubscribe").click(timeout=TIMEOUT_MS)
        page.get_by_role("heading", name="You are unsubscribed").wait_for(timeout=TIMEOUT_MS)
        assert status(project) == "unsubscribed"
        page.screenshot(path=str(Path("test-artifacts") / f"unsubscribe-{width}.png"))
    finally:
        page.close()
