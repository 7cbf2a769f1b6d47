"""The documentation site builds with --strict: no broken link, no missing page, and a
config reference generated from the settings model that documents every key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_build_strictly_and_document_every_key(tmp_path: Path) -> None:
    from newsletter_digest.config.schema import Settings

    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reference = (tmp_path / "site" / "configuration" / "index.html").read_text(encoding="utf-8")
    for key, field in Settings.model_fields.items():
        assert f"<code>{key}</code>" in reference, key
        assert field.description, f"{key} has no description"


def test_the_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 12 * 1024
    assert readme.index("make run") < readme.index("make test") < 1500
