"""The archive in a real browser: Chromium loads public/index.html and follows its links."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import Result
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000

MARKUP_TITLE = "<script>alert(1)</script> Tom & Jerry"


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file server like any web host, without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Path], str]]:
    """Serve a folder on 127.0.0.1 as it is; gives its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=folder))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def build_with_markup(project: Path, digest: Callable[..., Result], issues: int) -> None:
    """``issues`` issues, the first of which leads with an excerpt titled with markup."""
    (project / "content" / "markup.md").write_text(
        f"---\ntitle: {MARKUP_TITLE!r}\nweight: 1\n---\nA body.\n", encoding="utf-8"
    )
    for _ in range(issues):
        result = digest("build")
        assert result.exit_code == 0, result.output


def new_page(browser: Browser, **options: object) -> tuple[Page, list[str]]:
    """A page that records every dialog (an executed alert() would show as one)."""
    page = browser.new_page(**options)  # type: ignore[arg-type]
    page.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []

    def on_dialog(dialog: object) -> None:
        dialogs.append(str(getattr(dialog, "message", "")))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    return page, dialogs


def test_archive_page_lists_issues_and_links_to_each_web_version(
    project: Path, digest: Callable[..., Result], browser: Browser, serve: Callable[[Path], str]
) -> None:
    build_with_markup(project, digest, 3)
    root = serve(project / "public")
    page, dialogs = new_page(browser)
    page.goto(f"{root}/")
    assert page.title() == "Test Weekly: all issues"
    kickers = page.locator(".issue .kicker").all_inner_texts()
    assert [k.split(" · ")[0].upper() for k in kickers] == ["ISSUE 3", "ISSUE 2", "ISSUE 1"]
    # The markup title is shown as text, never run.
    assert page.get_by_text(MARKUP_TITLE, exact=True).count() >= 1
    assert dialogs == []

    subject = page.locator(".issue h2 a").nth(2)
    subject_text = subject.inner_text()
    subject.click()
    page.wait_for_url(f"{root}/issue-0001/index.html")
    assert page.title() == subject_text
    assert page.get_by_text("Issue 1 ·").count() == 1
    assert page.get_by_text("View in browser").count() == 0
    page.get_by_role("link", name="← All issues").click()
    page.wait_for_url(f"{root}/index.html")
    assert page.locator(".issue").count() == 3
    assert dialogs == []
    page.close()


def test_archive_page_fits_a_phone_and_has_a_dark_mode(
    project: Path, digest: Callable[..., Result], browser: Browser, serve: Callable[[Path], str]
) -> None:
    build_with_markup(project, digest, 1)
    root = serve(project / "public")
    backgrounds = {}
    for scheme in ("light", "dark"):
        page, _ = new_page(browser, viewport={"width": 360, "height": 740}, color_scheme=scheme)
        for url in (f"{root}/", f"{root}/issue-0001/"):
            page.goto(url)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (scheme, url)
        page.goto(f"{root}/")
        backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.close()
    assert backgrounds == {"light": "rgb(244, 243, 239)", "dark": "rgb(22, 22, 20)"}
