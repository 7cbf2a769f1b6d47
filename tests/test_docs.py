"""The documentation site builds with --strict: no broken link, no missing page, and a
config reference generated from the settings model that documents every key."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import click
from click.testing import CliRunner

from newsletter_digest.cli import cli

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


def _reference_hook() -> ModuleType:
    """docs/hooks/config_reference.py, the script that writes the configuration reference."""
    path = ROOT / "docs" / "hooks" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("config_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_configuration_reference_is_current() -> None:
    """docs/configuration.md holds the generated table, so GitHub shows it too."""
    hook = _reference_hook()
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert not hook.stale(page), (
        "docs/configuration.md is stale: the settings model changed. Run 'make reference' "
        "(or: .venv/bin/python docs/hooks/config_reference.py) and commit the result."
    )
    assert "| `smtp.host` |" in page and "| `sources[].feed` |" in page
    assert "| `inbox.host` |" in page and "| `sections[].from.tags` |" in page
    edited = page.replace("| `per_issue` | integer", "| `per_issue` | number")
    assert hook.stale(edited)  # a hand edit, or a key changed since, is noticed


def _commands(*group: str) -> list[str]:
    """The command names that `digest [GROUP] --help` lists."""
    shown = CliRunner().invoke(cli, [*group, "--help"]).output
    listing = shown.split("\nCommands:\n", 1)[1]
    return [line.split()[0] for line in listing.splitlines() if line.startswith("  ")]


def test_the_overview_names_every_command() -> None:
    overview = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    commands = _commands()
    assert {"build", "send", "serve", "readers", "inbox", "sources"} <= set(commands)
    missing = [name for name in commands if f"digest {name}" not in overview]
    for name in commands:
        if isinstance(cli.commands[name], click.Group):
            sub = _commands(name)
            missing += [f"{name} {s}" for s in sub if f"digest {name} {s}" not in overview]
    assert not missing, f"docs/index.md does not show: digest {', digest '.join(missing)}"


PACKAGE = ROOT / "src" / "newsletter_digest"


def _architecture() -> str:
    return (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def _stage_table() -> set[str]:
    """The module files the stage table places, as paths under src/newsletter_digest."""
    placed: set[str] = set()
    for row in _architecture().splitlines():
        if not row.startswith("| `"):
            continue
        names = re.findall(r"`([\w/]+(?:\.py|/))`", row.split(" | ")[0])
        folder = next((n for n in names if n.endswith("/")), "")
        placed.update(folder + n for n in names if n.endswith(".py"))
        for sub in (n for n in names if n.endswith("/") and n != folder):  # a data folder
            placed.update(
                p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / folder / sub).glob("*.py")
            )
        if folder and (PACKAGE / folder / "__init__.py").exists():  # migrations/ is no package
            placed.add(folder + "__init__.py")
    return placed


def test_every_module_the_architecture_names_exists() -> None:
    named = set(re.findall(r"`(newsletter_digest(?:\.\w+)+)`", _architecture()))
    named |= {
        n
        for line in re.findall(r"^\d+\. `(.*)`$", _architecture(), re.M)
        for n in line.split(" | ")
    }
    assert len(named) > 20
    missing = sorted(n for n in named if importlib.util.find_spec(n) is None)
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
    files = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    ghosts = sorted(_stage_table() - files)
    assert not ghosts, f"the stage table in docs/architecture.md places missing files: {ghosts}"


def test_every_module_and_package_is_placed_in_the_architecture() -> None:
    files = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    files -= {"__init__.py", "__main__.py"}
    unplaced = sorted(files - _stage_table())
    assert not unplaced, f"docs/architecture.md's stage table does not place: {unplaced}"
    packages = {p.parent.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("__init__.py")}
    text = _architecture()
    unnamed = sorted(p for p in packages - {"."} if f"`{p}/`" not in text)
    assert not unnamed, f"docs/architecture.md does not name the packages: {unnamed}"


def test_the_architecture_layers_are_the_import_contract() -> None:
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layers = next(
        c["layers"] for c in contract["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    )
    listed = re.findall(r"^\d+\. `(.*)`$", _architecture(), re.M)
    assert listed == layers, "docs/architecture.md's layer list differs from pyproject.toml"
