"""One name per thing (issue 26): ``per_issue`` for how many excerpts, one duration syntax
for every length of time in digest.yaml, old spellings still read with a warning that gives
the new one; one clock module, one default subject."""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from newsletter_digest import clock
from newsletter_digest.config.loading import load_config
from newsletter_digest.config.schema import Settings
from newsletter_digest.errors import ConfigError
from newsletter_digest.render import renderer
from newsletter_digest.schedule import runner

Digest = Callable[..., Result]
PACKAGE = Path(clock.__file__).resolve().parent  # the package under test
BASE = "title: Weekly\nsender: news@example.org\n"
SECTIONS = (
    "sections:\n  - title: Reading\n    from: {sources: [source-1]}\n    {key}: 1\n"
    "  - title: More\n    {key}: 2\n"
)


def format_duration(span: timedelta) -> str:
    """The config's duration formatting (imported here: each test fails on its own before)."""
    from newsletter_digest.config.durations import format_duration

    return format_duration(span)


def parse_duration(text: str) -> timedelta:
    from newsletter_digest.config.durations import parse_duration

    return parse_duration(text)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digest.yaml"
    path.write_text(BASE + text, encoding="utf-8")
    return path


# --- per_issue: one word for "how many excerpts" -------------------------------------------


def test_a_section_says_how_many_excerpts_with_per_issue(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SECTIONS.replace("{key}", "per_issue")))
    assert [s.per_issue for s in config.settings.sections] == [1, 2]
    assert config.warnings == ()


def test_a_sections_old_count_still_works_with_a_warning_naming_file_key_and_new_spelling(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, SECTIONS.replace("{key}", "count"))
    config = load_config(path)
    assert [s.per_issue for s in config.settings.sections] == [1, 2]
    assert config.warnings == (
        f"{path}:6: sections.0.count is deprecated; write per_issue: 1 instead",
        f"{path}:8: sections.1.count is deprecated; write per_issue: 2 instead",
    )


def test_count_and_per_issue_in_one_section_is_a_problem_not_a_guess(tmp_path: Path) -> None:
    path = write(tmp_path, "sections:\n  - title: A\n    count: 1\n    per_issue: 2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "1 problem in the config" in caught.value.message
    assert (
        "line 5: sections.0.count and sections.0.per_issue are one setting: keep only per_issue"
        in caught.value.message
    )


def test_a_bad_old_count_is_reported_on_its_line_under_the_new_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "sections:\n  - title: A\n    count: 0\n"))
    assert "line 5: sections.0.per_issue: expected an integer >= 1 (got 0)" in (
        caught.value.message
    )


def test_check_and_build_warn_once_about_an_old_spelling(project: Path, digest: Digest) -> None:
    config = project / "digest.yaml"
    config.write_text(config.read_text() + SECTIONS.replace("{key}", "count"))
    for command in (("check",), ("build",)):
        result = digest(*command)
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stderr.splitlines() if "is deprecated" in line]
        assert lines == [
            f"warning: {config}:{n}: sections.{i}.count is deprecated; "
            f"write per_issue: {i + 1} instead"
            for i, n in ((0, _line_of(config, "count: 1")), (1, _line_of(config, "count: 2")))
        ]
        assert "Traceback" not in result.output


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_no_section_spec_or_setting_says_count_or_size() -> None:
    from newsletter_digest.config.sources import SectionSettings
    from newsletter_digest.models import SectionSpec

    assert "per_issue" in SectionSettings.model_fields
    assert "per_issue" in SectionSpec._fields
    assert not {"count", "size"} & (set(SectionSettings.model_fields) | set(SectionSpec._fields))


# --- one duration syntax ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml", "read"),
    [
        ("smtp: {host: h, timeout: 90s}\n", lambda s: s.smtp.timeout == 90.0),
        ("smtp: {host: h, timeout: 300ms}\n", lambda s: s.smtp.timeout == 0.3),
        ("smtp: {host: h, retry_delay: 1m30s}\n", lambda s: s.smtp.retry_delay == 90.0),
        ("imports: {fetch_deadline: 2m}\n", lambda s: s.imports.fetch_deadline == 120.0),
        ("serve: {confirm_within: 2w}\n", lambda s: s.serve.confirm_within == timedelta(weeks=2)),
        ("serve: {confirm_within: 36h}\n", lambda s: s.serve.confirm_within == timedelta(hours=36)),
        (
            "schedule: {every: day, grace: 1h30m}\n",
            lambda s: s.schedule.grace == timedelta(hours=1, minutes=30),
        ),
    ],
)
def test_every_duration_key_takes_the_one_syntax(
    tmp_path: Path, yaml: str, read: Callable[[Settings], bool]
) -> None:
    config = load_config(write(tmp_path, yaml))
    assert read(config.settings)
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("yaml", "old", "new", "read"),
    [
        ("smtp:\n  host: h\n  timeout: 30\n", "smtp.timeout: 30", "timeout: 30s", 30.0),
        ("smtp:\n  host: h\n  timeout: 0.3\n", "smtp.timeout: 0.3", "timeout: 300ms", 0.3),
        ("smtp:\n  host: h\n  retry_delay: 2\n", "smtp.retry_delay: 2", "retry_delay: 2s", 2.0),
        (
            "imports:\n  fetch_deadline: 90\n",
            "imports.fetch_deadline: 90",
            "fetch_deadline: 1m30s",
            90.0,
        ),
        (
            "schedule:\n  every: day\n  grace: 7200\n",
            "schedule.grace: 7200",
            "grace: 2h",
            timedelta(hours=2),
        ),
    ],
)
def test_a_bare_number_still_means_seconds_with_a_warning(
    tmp_path: Path, yaml: str, old: str, new: str, read: object
) -> None:
    path = write(tmp_path, yaml)
    config = load_config(path)
    section, key = old.split(":")[0].split(".")
    assert getattr(getattr(config.settings, section), key) == read
    line = _line_of(path, old.split(".")[1])
    assert config.warnings == (
        f"{path}:{line}: {old} (a bare number of seconds) is deprecated; write {new} instead",
    )


def test_confirm_days_still_means_days_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "serve:\n  confirm_days: 2\n")
    config = load_config(path)
    assert config.settings.serve.confirm_within == timedelta(days=2)
    assert config.warnings == (
        f"{path}:4: serve.confirm_days is deprecated; write confirm_within: 2d instead",
    )


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("smtp: {host: h, timeout: 2x}\n", "smtp.timeout: expected a duration like '2d'"),
        ("smtp: {host: h, timeout: 0s}\n", "smtp.timeout: expected more than 0s (got '0s')"),
        ("smtp: {host: h, retry_delay: -1}\n", "smtp.retry_delay: expected a duration like"),
        ("imports: {fetch_deadline: 2h}\n", "imports.fetch_deadline: expected at most 1h"),
        ("serve: {confirm_within: 7}\n", "serve.confirm_within: write a duration with its unit"),
        ("serve: {confirm_days: 0}\n", "serve.confirm_within: expected at least 1h (got '0s')"),
        ("smtp: {host: h, timeout: true}\n", "smtp.timeout: expected a duration like '30s'"),
    ],
)
def test_a_bad_duration_names_its_key(tmp_path: Path, yaml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, yaml))
    assert message in caught.value.message


SPANS = st.integers(0, 400 * 86400 * 1000).map(lambda ms: timedelta(milliseconds=ms))


@given(SPANS)
def test_formatting_a_duration_and_parsing_it_back_is_the_identity(span: timedelta) -> None:
    assert parse_duration(format_duration(span)) == span


@given(st.floats(min_value=0.001, max_value=365 * 86400, allow_nan=False))
def test_an_old_number_of_seconds_means_what_it_did(seconds: float) -> None:
    """Before, smtp.timeout, retry_delay and imports.fetch_deadline were floats of seconds,
    taken as they were: they still are, exactly, and their new spelling means the same to the
    millisecond."""
    from newsletter_digest.config.delivery import SmtpSettings
    from newsletter_digest.config.sources import ImportSettings

    smtp = SmtpSettings(host="h", timeout=seconds, retry_delay=seconds)
    assert smtp.timeout == seconds and smtp.retry_delay == seconds
    if seconds <= 3600:
        assert ImportSettings(fetch_deadline=seconds).fetch_deadline == seconds
    spelled = SmtpSettings(host="h", timeout=format_duration(timedelta(seconds=seconds))).timeout
    assert math.isclose(spelled, seconds, abs_tol=0.001)


@given(st.integers(1, 365))
def test_old_confirm_days_mean_what_they_did(days: int) -> None:
    from newsletter_digest.config.deprecated import upgrade

    data, warnings, problems = upgrade(
        Settings, {"serve": {"confirm_days": days}}, Path("digest.yaml"), {}
    )
    site = Settings.model_validate({"title": "T", "sender": "a@example.org", **data})
    assert site.serve.confirm_within == timedelta(days=days)
    assert len(warnings) == 1 and not problems


@given(st.integers(60, 365 * 86400))
def test_old_grace_seconds_mean_what_they_did(seconds: int) -> None:
    from newsletter_digest.config.site import ScheduleSettings

    old = ScheduleSettings(every="day", grace=seconds).grace
    assert old == timedelta(seconds=seconds)
    assert ScheduleSettings(every="day", grace=format_duration(old)).grace == old


def test_the_sample_and_reference_write_durations_in_the_one_syntax() -> None:
    from newsletter_digest.config.sample import sample

    text = sample()
    for line in ('timeout: "30s"', 'retry_delay: "2s"', 'fetch_deadline: "1m"', "grace: "):
        assert line in text
    assert 'confirm_within: "7d"' in text and "confirm_days" not in text
    reference = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    assert "| `smtp.timeout` | duration, &gt; 0" in reference
    assert "| `sections[].per_issue` |" in reference and "| `sections[].count` |" not in reference


# --- drift: one clock, one default subject -----------------------------------------------------


def _functions_reading_the_clock() -> dict[str, list[str]]:
    """Each module's functions named like ``*now`` that read the real clock themselves."""
    found: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.endswith("now"):
                body = ast.unparse(node)
                if "datetime.now(" in body or "time.time()" in body:
                    found.setdefault(path.relative_to(PACKAGE).as_posix(), []).append(node.name)
    return found


def test_the_clock_is_read_in_one_module() -> None:
    assert _functions_reading_the_clock() == {"clock.py": ["utc_now", "local_now"]}
    assert runner.utc_now is clock.utc_now  # the runner's default clock, still injectable


def test_the_default_subject_is_defined_once() -> None:
    literal = "{{ title }} #{{ issue.number }}: {{ excerpts[0].title }}"
    holders = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if literal in path.read_text(encoding="utf-8")
    ]
    assert holders == ["config/defaults.py"]
    assert Settings.model_fields["subject"].default == renderer.DEFAULT_SUBJECT == literal


@pytest.mark.parametrize(
    ("every", "seconds", "days"),
    [("1h30m", 5400, 0), ("2w", 0, 14), ("1w2d", 0, 9), ("12h", 43200, 0), ("2 weeks", 0, 14)],
)
def test_schedule_every_takes_an_interval_written_as_a_duration(
    tmp_path: Path, every: str, seconds: int, days: int
) -> None:
    from newsletter_digest.schedule.slots import Every

    config = load_config(write(tmp_path, f"schedule:\n  every: {every}\n"))
    assert config.settings.schedule is not None
    assert config.settings.schedule.to_schedule().every == Every(days=days, seconds=seconds)


def test_an_interval_of_days_and_hours_at_once_is_refused_with_how_to_write_it(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "schedule:\n  every: 1d12h\n"))
    assert "schedule.every: an interval is whole days or weeks, or hours" in caught.value.message


def test_a_json_log_gets_the_old_spelling_warning_as_a_json_event(
    project: Path, digest: Digest
) -> None:
    """`digest run --log-format json` keeps stderr all JSON: the deprecation is an event."""
    config = project / "digest.yaml"
    config.write_text(
        config.read_text()
        + 'schedule:\n  every: day\n  at: "00:00"\n  timezone: UTC\n'
        + "imports:\n  fetch_deadline: 60\n"
    )
    result = digest("run", "--once", "--no-send", "--log-format", "json")
    assert result.exit_code == 0, result.output
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    deprecated = [e for e in logged if e.get("event") == "config.deprecated"]
    line = _line_of(config, "fetch_deadline")
    assert [(e["level"], e["message"]) for e in deprecated] == [
        (
            "WARNING",
            f"{config}:{line}: imports.fetch_deadline: 60 (a bare number of seconds) is "
            "deprecated; write fetch_deadline: 1m instead",
        )
    ]
