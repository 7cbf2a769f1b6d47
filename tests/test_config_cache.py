"""The validated-config cache: the same answer as a fresh validation, and never a stale one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsletter_digest.config import loading as runtime
from newsletter_digest.config import schema
from newsletter_digest.config.loading import CACHE_NAME, load_config
from newsletter_digest.errors import ConfigError
from newsletter_digest.files import code_fingerprint

FULL = """\
title: Full
sender: "Full <full@example.org>"
recipients: [a@example.org]
recipients_file: people.txt
per_issue: 4
preheader: "This week: {{ excerpts | length }}"
content: words
templates: looks
outbox: out
state: var/state.db
unsubscribe: https://example.org/u?e={email}
footer: "**Bye**"
seed: 42
base_url: https://news.example.org/
archive:
  feed_items: 5
smtp:
  host: mail.example.org
  port: 2525
  security: ssl
  username: me
  ca_file: ca.pem
  timeout: 12.5
  rate: 3
  retries: 1
  retry_delay: 0.5
schedule:
  every: 2 weeks
  at: "07:30"
  timezone: Europe/Berlin
  start: 2026-01-05
  catch_up: skip
  grace: 90m
"""


def write(folder: Path, text: str) -> Path:
    (folder / "people.txt").write_text("b@example.org\n", encoding="utf-8")
    path = folder / "digest.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cached_settings_are_the_validated_settings(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    fresh = load_config(path, save=True)
    assert (tmp_path / CACHE_NAME).is_file()
    cached = load_config(path)
    assert cached == fresh
    assert cached.settings.schedule is not None and cached.settings.smtp is not None
    assert cached.settings.schedule.to_schedule() == fresh.settings.schedule.to_schedule()
    assert cached.settings.smtp.ca_file == tmp_path / "ca.pem"
    assert cached.settings.state == tmp_path / "var" / "state.db"
    assert cached.recipient_count == 2


def test_an_edited_config_is_validated_again(tmp_path: Path) -> None:
    path = write(tmp_path, "title: T\nsender: a@example.org\nper_issue: 3\n")
    load_config(path, save=True)
    path.write_text("title: T\nsender: a@example.org\nper_issue: 5\n", encoding="utf-8")
    assert load_config(path, save=True).settings.per_issue == 5
    path.write_text("title: T\nsender: a@example.org\nper_issue: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="per_issue: expected an integer >= 1"):
        load_config(path, save=True)


def test_the_same_file_elsewhere_resolves_its_own_paths(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    text = "title: T\nsender: a@example.org\n"
    first = load_config(write(tmp_path / "a", text), save=True)
    second = load_config(write(tmp_path / "b", text), save=True)
    assert first.settings.content == tmp_path / "a" / "content"
    assert second.settings.content == tmp_path / "b" / "content"


@pytest.mark.parametrize("junk", [b"", b"{not json", b'{"key": 1}', b'{"key": "x", "s": 1}'])
def test_a_broken_cache_is_ignored_and_replaced(tmp_path: Path, junk: bytes) -> None:
    path = write(tmp_path, FULL)
    expected = load_config(path)
    cache = tmp_path / CACHE_NAME
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(junk)
    assert load_config(path, save=True) == expected
    assert cache.read_bytes() != junk


def test_read_only_loads_write_no_cache(tmp_path: Path) -> None:
    load_config(write(tmp_path, FULL))
    assert not (tmp_path / ".digest").exists()


@pytest.mark.parametrize(
    ("record", "model"),
    [
        (runtime.Settings, schema.SettingsSchema),
        (runtime.SmtpSettings, schema.SmtpSchema),
        (runtime.ScheduleSettings, schema.ScheduleSchema),
        (runtime.ArchiveSettings, schema.ArchiveSchema),
    ],
)
def test_runtime_settings_and_schema_agree_on_keys(
    record: Any, model: type[schema.BaseModel]
) -> None:
    """Same keys, same order; defaults only in the schema, so they cannot disagree."""
    assert list(record._fields) == list(model.model_fields)
    assert record._field_defaults == {}


def test_home_is_the_home_of_the_run_that_reads_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "title: T\nsender: a@example.org\nstate: ~/digest/state.db\n")
    monkeypatch.setenv("HOME", str(tmp_path / "ann"))
    assert load_config(path, save=True).settings.state == tmp_path / "ann/digest/state.db"
    monkeypatch.setenv("HOME", str(tmp_path / "bob"))  # cron, sudo or another user
    assert load_config(path).settings.state == tmp_path / "bob/digest/state.db"


def test_code_fingerprint_follows_modules_and_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mod_a.py").write_text("X = 1\n", encoding="utf-8")
    package = tmp_path / "pkg_b"
    package.mkdir()
    (package / "__init__.py").write_text("__version__ = '1.0'\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = code_fingerprint(["mod_a"], ["pkg_b"])
    assert first is not None and first == code_fingerprint(["mod_a"], ["pkg_b"])
    (tmp_path / "mod_a.py").write_text("X = 2\n", encoding="utf-8")
    second = code_fingerprint(["mod_a"], ["pkg_b"])
    assert second != first
    (package / "__init__.py").write_text("__version__ = '1.10'\n", encoding="utf-8")
    assert code_fingerprint(["mod_a"], ["pkg_b"]) != second  # another version installed
    assert code_fingerprint(["no_such_module_here"]) is None  # nothing cached, never stale


def test_without_a_fingerprint_nothing_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "_schema_fingerprint", lambda: None)
    path = write(tmp_path, FULL)
    assert load_config(path, save=True).settings.per_issue == 4
    assert not (tmp_path / CACHE_NAME).exists()
