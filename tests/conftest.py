"""Small temporary projects and a CLI runner shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
