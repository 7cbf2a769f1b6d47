"""Small temporary projects and a CLI runner shared by the end-to-end tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from newsletter_digest.cli import cli

CONFIG = """\
title: "Test Weekly"
sender: "Test Weekly <news@example.org>"
recipients: [reader@example.org]
per_issue: {per_issue}
unsubscribe: "https://example.org/unsubscribe"
seed: "tests"
"""


def write_excerpt(content: Path, stem: str, title: str, body: str = "", **meta: object) -> Path:
    """An excerpt file with front matter, as a user would write it."""
    lines = ["---", f"title: {title!r}"]
    lines += [f"{key}: {value!r}" for key, value in meta.items()]
    lines += ["---", body or f"The body of {title}, with a [link](https://example.org/{stem})."]
    path = content / f"{stem}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder: digest.yaml and six excerpts from three sources."""
    (tmp_path / "digest.yaml").write_text(CONFIG.format(per_issue=3), encoding="utf-8")
    content = tmp_path / "content"
    content.mkdir()
    for n in range(1, 7):
        write_excerpt(
            content,
            f"post-{n}",
            f"Post number {n}",
            url=f"https://example.org/post-{n}",
            source=f"source-{n % 3}",
        )
    return tmp_path


@pytest.fixture
def digest(project: Path) -> Callable[..., Result]:
    """Run ``digest --config project/digest.yaml ARGS`` in-process, like a user would."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["--config", str(project / "digest.yaml"), *args])

    return run


CHROMIUM = Path(os.environ.get("DIGEST_TEST_CHROMIUM", "/usr/bin/chromium"))
# Root in a closed network: no sandbox, and no background calls that would be refused.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no downloaded browser build)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: 'apt-get install chromium' (.ci/run does it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
