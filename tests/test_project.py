"""`digest init`: a project to start from, whose digest.yaml is made from the settings
model (every key, its default, its description), and the bundled digest.yaml made the same
way, so neither drifts from config/schema.py."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import BaseModel

from newsletter_digest.cli import cli
from newsletter_digest.config import sample
from newsletter_digest.config.schema import Settings, validate

ROOT = Path(__file__).resolve().parents[1]
_KEY = re.compile(r"^# ([a-z_]+):(?: |$)")


def _uncommented(text: str) -> str:
    """The file with every commented-out top-level key (and its section's lines) set."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        match = _KEY.match(line)
        if match and match.group(1) in Settings.model_fields:
            inside = True
            out.append(line[2:])
        elif inside and line.startswith("#  "):
            out.append(line[2:])
        else:
            inside = False
            out.append(line)
    return "\n".join(out) + "\n"


def _models(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    """Every section model under ``model`` with its dotted key."""
    found = [(prefix, model)]
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        for member in typing.get_args(field.annotation) or (field.annotation,):
            inner = typing.get_args(member)[0] if typing.get_origin(member) is tuple else member
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found += _models(inner, key + ".")
    return found


def _dotted_keys(data: Any, prefix: str = "") -> set[str]:
    if isinstance(data, list):
        return set().union(*(_dotted_keys(item, prefix) for item in data)) if data else set()
    if not isinstance(data, dict):
        return set()
    keys = set()
    for key, value in data.items():
        keys.add(prefix + key)
        keys |= _dotted_keys(value, f"{prefix}{key}.")
    return keys


def test_init_starts_a_project_that_checks_and_builds(tmp_path: Path) -> None:
    runner = CliRunner()
    folder = tmp_path / "my-newsletter"
    result = runner.invoke(cli, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    config = folder / "digest.yaml"
    assert sorted(p.name for p in (folder / "content").iterdir()) == [
        "try-before-you-send.md",
        "welcome-to-your-digest.md",
    ]
    readme = (folder / "templates" / "README.md").read_text(encoding="utf-8")
    assert "copy it here under the same name" in readme and "`digest.mjml.j2`" in readme
    assert ".digest/" in (folder / ".gitignore").read_text(encoding="utf-8")

    # Set only what init set: title, sender, per_issue; the rest is at its default.
    settings, problems = validate(yaml.safe_load(config.read_text(encoding="utf-8")))
    assert problems == [] and settings is not None
    expected = Settings(title=sample.EXAMPLES["title"], sender=sample.EXAMPLES["sender"])
    assert settings == expected.model_copy(update={"per_issue": 2})

    checked = runner.invoke(cli, ["--config", str(config), "check"])
    assert checked.exit_code == 0, checked.output
    warnings = [line for line in checked.output.splitlines() if line.startswith("warning:")]
    # Only what a new project cannot know yet: its public address (base_url).
    assert all("base_url" in line for line in warnings), warnings
    built = runner.invoke(cli, ["--config", str(config), "build"])
    assert built.exit_code == 0, built.output
    assert (folder / "outbox" / "issue-0001" / "issue-0001.eml").is_file()


def test_init_refuses_an_existing_project_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "digest.yaml").write_text('title: "Mine"\n', encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(cli, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert "holds a project already (digest.yaml)" in result.output
    assert "nothing was written" in result.output
    assert "Traceback" not in result.output
    assert sorted(tmp_path.rglob("*")) == before
    assert (tmp_path / "digest.yaml").read_text(encoding="utf-8") == 'title: "Mine"\n'


def test_the_sample_mentions_every_key_and_each_commented_default_is_the_default() -> None:
    text = sample.sample()
    everything = yaml.safe_load(_uncommented(text))
    # Every key of every section is in the file (as a key line, set or commented out).
    wanted = {
        prefix + (field.alias or name)
        for prefix, model in _models(Settings)
        for name, field in model.model_fields.items()
    }
    assert wanted - _dotted_keys(everything) == set()
    # With every commented-out key set as written, the settings are the defaults.
    settings, problems = validate(everything)
    assert problems == [] and settings is not None
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if name in ("title", "sender"):
            assert value == sample.EXAMPLES[name]
        elif name in ("sources", "sections"):
            assert len(value) == 1  # the one example entry each list shows
        elif isinstance(value, BaseModel) and field.default is None:
            # A section that is off by default is shown with its keys' defaults.
            section = type(value)
            for key, inner in section.model_fields.items():
                if f"{name}.{key}" not in sample.EXAMPLES:
                    assert getattr(value, key) == inner.get_default(call_default_factory=True)
        else:
            assert value == field.get_default(call_default_factory=True), name


def test_the_bundled_digest_yaml_is_the_generated_one_with_its_own_settings() -> None:
    bundled = (ROOT / "digest.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load(bundled)
    assert bundled == sample.sample(values, sample.BUNDLED_WHAT), (
        "digest.yaml is stale: run 'python -m newsletter_digest.config.sample digest.yaml'"
    )
    # What it points the reader at is there.
    pointers = set(re.findall(r"docs/[a-z-]+\.md", bundled))
    assert "docs/configuration.md" in pointers
    for pointer in pointers:
        assert (ROOT / pointer).is_file(), pointer
    assert "README's" not in bundled
    # It keeps the bundled example's settings.
    assert values["title"] == "The Backend Digest"
    assert values["schedule"]["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize("name", sorted(sample.SECTION_DOCS.values()))
def test_every_section_pointer_exists(name: str) -> None:
    assert (ROOT / name).is_file()
