"""Config loading: defaults, path resolution, and every problem reported at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from newsletter_digest.config.loading import find_config, load_config
from newsletter_digest.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digest.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "title: Weekly\nsender: news@example.org\n"))
    s = config.settings
    assert s.per_issue == 3
    assert s.content == tmp_path / "content"
    assert s.templates == tmp_path / "templates"
    assert s.outbox == tmp_path / "outbox"
    assert s.state == tmp_path / ".digest" / "state.db"
    assert list(config.iter_recipients()) == []
    assert s.unsubscribe is None


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "proj").mkdir()
    path = write(tmp_path / "proj", "title: T\nsender: a@example.org\ncontent: ../shared\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(path)
    assert config.settings.content == tmp_path / "proj" / ".." / "shared"


def test_every_problem_is_reported_at_once_with_its_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "title: T\nsender: not-an-address\nper_issue: zero\nunsubscribe: javascript:x\n"
        "contnet: stuff\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = info.value.message
    assert "4 problems" in message
    assert "sender:" in message and "is not an address like" in message
    assert "per_issue: expected an integer" in message
    assert "is not an http(s) or mailto URL" in message
    assert "contnet: unknown key; did you mean 'content'?" in message
    assert info.value.hint


def test_per_issue_below_one_names_the_bound(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"per_issue: expected an integer >= 1"):
        load_config(write(tmp_path, "title: T\nsender: a@example.org\nper_issue: 0\n"))


def test_missing_required_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "per_issue: 2\n"))
    assert "title: required key is missing" in info.value.message
    assert "sender: required key is missing" in info.value.message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "title: T\nsender: a@example.org\nrecipients: [a@b.org\n")
    with pytest.raises(ConfigError, match=r"digest\.yaml:\d+: not valid YAML"):
        load_config(path)


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = write(tmp_path, "title: !!python/object/apply:os.system ['echo hi']\nsender: a@b.org\n")
    with pytest.raises(ConfigError):
        load_config(path)


def test_missing_config_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "digest.yaml")
    assert "no config file" in info.value.message
    assert "--config" in info.value.hint


def test_recipients_file_is_merged_and_bad_lines_are_named(tmp_path: Path) -> None:
    (tmp_path / "readers.txt").write_text(
        "# readers\nann@example.org\n\nBob <bob@example.org>\nnot an address\n", encoding="utf-8"
    )
    path = write(
        tmp_path,
        "title: T\nsender: a@example.org\nrecipients: [ann@example.org]\n"
        "recipients_file: readers.txt\n",
    )
    with pytest.raises(ConfigError, match=r"readers\.txt:5"):
        load_config(path)
    (tmp_path / "readers.txt").write_text("ann@example.org\nbob@example.org\n")
    config = load_config(path)
    assert config.recipient_count == 3
    assert list(config.iter_recipients()) == [
        "ann@example.org",
        "ann@example.org",
        "bob@example.org",
    ]


def test_line_breaks_in_header_fields_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, 'title: "A\\nBcc: evil@example.org"\nsender: a@example.org\n')
    with pytest.raises(ConfigError, match="title: must be a single line"):
        load_config(path)


def test_numeric_seed_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "title: T\nsender: a@example.org\nseed: 42\n"))
    assert config.settings.seed == "42"


def test_find_config_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    assert find_config(None) == tmp_path / "digest.yaml"
    monkeypatch.setenv("DIGEST_CONFIG", "other.yaml")
    assert find_config(None) == tmp_path / "other.yaml"
    assert find_config("third.yaml") == tmp_path / "third.yaml"


@pytest.mark.parametrize("key", ["unsubscribe", "base_url"])
def test_check_refuses_a_host_less_url_and_names_the_key(
    project: Path, digest: Callable[..., Result], key: str
) -> None:
    config = project / "digest.yaml"
    lines = [line for line in config.read_text().splitlines() if not line.startswith(key)]
    config.write_text("\n".join([*lines, f'{key}: "https:///no-host-here"']) + "\n")
    before = sorted(p.name for p in project.rglob("*"))
    for command in ("check", "build"):
        result = digest(command)
        assert result.exit_code == 1, result.output
        assert f"{key}: 'https:///no-host-here' has no host name" in result.output
        assert f"line {len(lines) + 1}: {key}" in result.output
    assert sorted(p.name for p in project.rglob("*")) == before  # nothing written


def test_every_problem_names_its_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "digest.yaml"
    path.write_text(
        'title: "T"\nsender: "T <t@example.org>"\nper_issue: 0\nsmtp:\n  host: h\n'
        "  port: 99999\n  securty: tls\narchive:\n  feed_items: x\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = info.value.message
    assert "4 problems" in message
    for expected in (
        "line 3: per_issue: expected an integer >= 1",
        "line 6: smtp.port: expected an integer <= 65535",
        "line 7: smtp.securty: unknown key; did you mean 'security'?",
        "line 9: archive.feed_items: expected an integer",
    ):
        assert expected in message, message


@pytest.mark.parametrize(
    "entry", ["billing@corp.example <ann@example.org>", "ann@example.org <billing@corp.example>"]
)
def test_an_unquoted_name_with_an_at_sign_is_refused_in_recipients(
    tmp_path: Path, entry: str
) -> None:
    """parseaddr reads the name as the address; a value must be exactly one address."""
    path = write(tmp_path, f"title: T\nsender: a@example.org\nrecipients: ['{entry}']\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "line 3: recipients" in info.value.message
    assert "double quotes" in info.value.message
    (tmp_path / "readers.txt").write_text(f"bob@example.org\n{entry}\n", encoding="utf-8")
    path = write(tmp_path, "title: T\nsender: a@example.org\nrecipients_file: readers.txt\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "readers.txt:2" in info.value.message
    assert "double quotes" in info.value.message
    quoted = entry.replace("billing@corp.example <", '"billing@corp.example" <')
    quoted = quoted.replace("ann@example.org <", '"ann@example.org" <')
    (tmp_path / "readers.txt").write_text(f"{quoted}\n", encoding="utf-8")
    assert list(load_config(path).iter_recipients()) == [quoted]
