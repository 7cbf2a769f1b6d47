"""What mailbox providers and readers notice: Gmail's 102 KB clip is warned about before it
happens, excerpt images carry width and alt, and a missing alt is pointed out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from conftest import write_excerpt
from newsletter_digest.render.markdown import render

Digest = Callable[..., Result]


def long_excerpts(project: Path, count: int = 25, words: int = 900) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("per_issue: 3", f"per_issue: {count}"))
    for n in range(count):
        body = " ".join(f"Paragraph word {i} of excerpt {n}." for i in range(words // 5))
        write_excerpt(project / "content", f"long-{n}", f"Long read número {n}", body)


def test_build_and_check_warn_past_gmails_clipping_limit(project: Path, digest: Digest) -> None:
    long_excerpts(project)
    checked = digest("check")
    assert "past Gmail's 102 KB limit" in checked.output
    assert "per_issue" in checked.output  # what to do about it
    dry = digest("build", "--dry-run")
    assert "past Gmail's 102 KB limit" in dry.output
    built = digest("build")
    assert built.exit_code == 0
    assert "past Gmail's 102 KB limit" in built.output


def test_a_normal_issue_has_no_size_warning(project: Path, digest: Digest) -> None:
    assert "102 KB" not in digest("check").output
    assert "102 KB" not in digest("build").output


def test_excerpt_images_have_width_and_alt() -> None:
    html = render("![A chart of latency](https://example.org/c.png)").html
    assert 'alt="A chart of latency"' in html and 'width="552"' in html
    assert "max-width:100%" in html
    bare = render("![](https://example.org/d.png)").html
    assert 'alt=""' in bare and 'width="552"' in bare


def test_check_points_out_an_image_without_alt(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("per_issue: 3", "per_issue: 6"))
    write_excerpt(project / "content", "post-1", "With a picture", "![](https://example.org/x.png)")
    result = digest("check")
    assert "have no alt text" in result.output and "https://example.org/x.png" in result.output
