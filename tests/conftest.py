"""Small temporary projects and a CLI runner shared by the end-to-end tests."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from click.testing import CliRunner, Result

from newsletter_digest.cli import cli
from newsletter_digest.config.loading import load_config
from newsletter_digest.web.preview import PreviewServer
from smtp_helpers import Behaviour, Server

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
        pytest.fail(f"{CHROMIUM} is missing: 'make test' installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(behaviour: Behaviour | None = None, **kwargs: object) -> Server:
        server = Server(behaviour or Behaviour(), **kwargs).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def preview(project: Path) -> Iterator[PreviewServer]:
    """A running preview of the test project on a free port."""
    server = PreviewServer(load_config(project / "digest.yaml"), port=0)
    server.start()
    yield server
    server.stop()
