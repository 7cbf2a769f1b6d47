"""Slot maths with an injected clock: intervals, downtime, grace, DST, the clock moving back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from newsletter_digest.config.loading import load_config
from newsletter_digest.errors import ConfigError
from newsletter_digest.schedule import slots as scheduler
from newsletter_digest.schedule.slots import (
    Every,
    Schedule,
    decide,
    latest_slot,
    next_slots,
    parse_at,
    parse_duration,
    parse_every,
    slot_at,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    """Wall time in ``zone`` as a UTC instant (aware datetimes in a repeated hour compare
    unequal to every other zone, so tests compare in UTC, like the scheduler does)."""
    return datetime(*args, tzinfo=zone, fold=fold).astimezone(UTC)  # type: ignore[misc]


def make(
    every: str = "monday",
    at: str = "09:00",
    zone: ZoneInfo = BERLIN,
    start: date = scheduler.DEFAULT_START,
    catch_up: scheduler.CatchUp = "latest",
    grace: str = "2d",
) -> Schedule:
    return Schedule(
        every=parse_every(every),
        at=parse_at(at),
        zone=zone,
        start=start,
        catch_up=catch_up,
        grace=parse_duration(grace),
    )


# Parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monday", Every(days=7, weekday=0)),
        ("Sun", Every(days=7, weekday=6)),
        ("day", Every(days=1)),
        ("week", Every(days=7)),
        ("2 weeks", Every(days=14)),
        ("3 days", Every(days=3)),
        ("1 day", Every(days=1)),
        ("6 hours", Every(seconds=6 * 3600)),
        ("24 hours", Every(seconds=24 * 3600)),
        ("90 minutes", Every(seconds=5400)),
        ("5 seconds", Every(seconds=5)),
        ("5s", Every(seconds=5)),
    ],
)
def test_every_understands_weekdays_days_and_intervals(text: str, expected: Every) -> None:
    assert parse_every(text) == expected


@pytest.mark.parametrize("text", ["fortnight", "0 days", "2 fortnights", "", "monday 2", "-1 day"])
def test_every_refuses_what_it_cannot_schedule(text: str) -> None:
    with pytest.raises(ValueError, match="expected a weekday"):
        parse_every(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2d", 2 * DAY),
        ("36h", 36 * HOUR),
        ("1d12h", DAY + 12 * HOUR),
        ("1d 12h", DAY + 12 * HOUR),
        ("90m", 90 * MINUTE),
        ("45s", timedelta(seconds=45)),
        ("1w", WEEK),
        ("3 days", 3 * DAY),
        (3600, HOUR),
    ],
)
def test_durations_are_written_like_2d(value: str | int, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["2x", "", "d", "2", "two days", "2d-1h"])
def test_bad_durations_say_what_is_expected(value: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like '2d'"):
        parse_duration(value)


def test_times_of_day_take_optional_seconds() -> None:
    assert parse_at("09:00") == time(9, 0)
    assert parse_at("9:05") == time(9, 5)
    assert parse_at("18:30:15") == time(18, 30, 15)
    for bad in ("25:00", "9", "09:60", "9am"):
        with pytest.raises(ValueError, match="time of day"):
            parse_at(bad)


def test_a_mistyped_time_zone_gets_a_did_you_mean() -> None:
    assert scheduler.zone("Europe/Berlin") == BERLIN
    with pytest.raises(ValueError, match="did you mean 'Europe/Berlin'"):
        scheduler.zone("Europe/Berln")
    with pytest.raises(ValueError, match="IANA name"):
        scheduler.zone("Nowhere/Atall/Really")


# Weekly and interval schedules ------------------------------------------------------------


def test_weekly_slots_are_at_the_local_time_whatever_the_utc_offset() -> None:
    weekly = make("monday", "09:00", BERLIN)
    slots = next_slots(weekly, utc(2026, 3, 20), 3)
    assert [s.astimezone(BERLIN).strftime("%a %d %H:%M") for s in slots] == [
        "Mon 23 09:00",
        "Mon 30 09:00",
        "Mon 06 09:00",
    ]
    # Winter time before the change on 29 March, summer time after it.
    assert [s.hour for s in slots] == [8, 7, 7]


def test_a_slot_is_due_from_its_minute_on_and_not_before() -> None:
    weekly = make("monday", "09:00", BERLIN)
    slot = local(BERLIN, 2026, 11, 30, 9, 0)
    assert latest_slot(weekly, slot) == slot
    assert latest_slot(weekly, slot - timedelta(seconds=1)) == slot - WEEK
    assert next_slots(weekly, slot) == [slot + WEEK]


def test_two_weeks_count_from_start_on_its_weekday() -> None:
    default = make("2 weeks")
    slots = next_slots(default, utc(2026, 1, 1), 3)
    assert {s.astimezone(BERLIN).weekday() for s in slots} == {0}  # Mondays by default
    assert all((s.date() - date(2024, 1, 1)).days % 14 == 0 for s in slots)
    wednesday = make("2 weeks", start=date(2026, 1, 7))
    assert next_slots(wednesday, utc(2026, 1, 1), 3) == [
        local(BERLIN, 2026, 1, 7, 9, 0),
        local(BERLIN, 2026, 1, 21, 9, 0),
        local(BERLIN, 2026, 2, 4, 9, 0),
    ]


def test_no_slot_comes_before_start() -> None:
    weekly = make("friday", start=date(2026, 6, 1))  # a Monday: the first slot is Friday the 5th
    assert latest_slot(weekly, utc(2026, 6, 4)) is None
    assert next_slots(weekly, utc(2020, 1, 1)) == [local(BERLIN, 2026, 6, 5, 9, 0)]
    assert decide(weekly, utc(2026, 6, 4), None).due is None


def test_every_three_days_at_a_time() -> None:
    every3 = make("3 days", "18:30", NEW_YORK, start=date(2026, 5, 1))
    assert next_slots(every3, utc(2026, 5, 2), 2) == [
        local(NEW_YORK, 2026, 5, 4, 18, 30),
        local(NEW_YORK, 2026, 5, 7, 18, 30),
    ]


def test_short_intervals_are_elapsed_time_across_dst() -> None:
    six_hours = make("6 hours", "03:00", BERLIN)
    slots = next_slots(six_hours, utc(2026, 3, 28, 12), 6)
    assert {b - a for a, b in pairwise(slots)} == {6 * HOUR}
    # Anchored at 03:00 winter time, the wall clock reads an hour later after the change.
    assert slots[0].astimezone(BERLIN).hour == 15
    assert slots[-1].astimezone(BERLIN).hour == 22


def test_seconds_schedules_are_slots_a_few_seconds_apart() -> None:
    every5 = make("5 seconds", "00:00", ZoneInfo("UTC"))
    now = utc(2026, 11, 30, 9, 0, 7)
    assert latest_slot(every5, now) == utc(2026, 11, 30, 9, 0, 5)
    assert next_slots(every5, now, 2) == [utc(2026, 11, 30, 9, 0, 10), utc(2026, 11, 30, 9, 0, 15)]


# Downtime, catch-up and grace -------------------------------------------------------------

WEEKLY = make("monday", "09:00", BERLIN, grace="2d")
S0 = local(BERLIN, 2026, 11, 2, 9, 0)


def slot(n: int) -> datetime:
    return S0 + n * WEEK


def test_no_downtime_the_due_slot_is_made_with_nothing_missed() -> None:
    decision = decide(WEEKLY, slot(1) + MINUTE, last=slot(0))
    assert (decision.due, decision.make, decision.missed_count) == (slot(1), True, 0)


def test_nothing_is_due_between_slots_or_for_a_slot_already_recorded() -> None:
    assert decide(WEEKLY, slot(1) + MINUTE, last=slot(1)).due is None
    assert decide(WEEKLY, slot(2) - MINUTE, last=slot(1)).due is None


def test_downtime_of_one_slot_makes_it() -> None:
    decision = decide(WEEKLY, slot(1) + 20 * HOUR, last=slot(0))
    assert decision.make and decision.due == slot(1)
    assert decision.missed == ()


def test_downtime_of_five_slots_makes_only_the_latest() -> None:
    decision = decide(WEEKLY, slot(5) + HOUR, last=slot(0))
    assert decision.make and decision.due == slot(5)
    assert decision.missed_count == 4
    assert decision.missed == (slot(1), slot(2), slot(3), slot(4))


def test_a_machine_asleep_three_days_makes_one_issue_on_wake_up() -> None:
    daily = make("day", "07:00", BERLIN, grace="2d")
    before = local(BERLIN, 2026, 11, 2, 7, 0)
    decision = decide(daily, before + 3 * DAY + 2 * HOUR, last=before)
    assert decision.make and decision.due == before + 3 * DAY
    assert decision.missed_count == 2


def test_a_missed_slot_older_than_grace_is_skipped() -> None:
    decision = decide(WEEKLY, slot(5) + 2 * DAY + MINUTE, last=slot(0))
    assert decision.skip and decision.due == slot(5)
    assert "more than grace 2d" in decision.reason
    assert decision.missed_count == 4
    assert decide(WEEKLY, slot(5) + 2 * DAY, last=slot(0)).make  # grace itself still counts


def test_catch_up_skip_makes_only_slots_that_are_on_time() -> None:
    skip = make("monday", catch_up="skip", grace="2d")
    assert decide(skip, slot(1) + 5 * MINUTE, last=slot(0)).make
    late = decide(skip, slot(1) + scheduler.ON_TIME + MINUTE, last=slot(0))
    assert late.skip and "catch_up is skip" in late.reason
    tight = make("monday", catch_up="skip", grace="2m")
    assert decide(tight, slot(1) + 3 * MINUTE, last=slot(0)).skip


def test_the_first_run_catches_up_the_latest_slot_within_grace() -> None:
    assert decide(WEEKLY, slot(1) + DAY, last=None).make
    first = decide(WEEKLY, slot(1) + 3 * DAY, last=None)
    assert first.skip and first.missed_count == 0  # nothing before the first run is "missed"


def test_years_of_downtime_on_a_seconds_schedule_is_arithmetic_not_a_scan() -> None:
    every5 = make("5 seconds", "00:00", ZoneInfo("UTC"))
    last = utc(2025, 1, 1)
    decision = decide(every5, utc(2026, 1, 1, 0, 0, 2), last=last)
    assert decision.due == utc(2026, 1, 1) and decision.make
    assert decision.missed_count == 365 * 24 * 720 - 1
    assert len(decision.missed) == scheduler.MAX_LISTED
    assert decision.missed[-1] == utc(2025, 12, 31, 23, 59, 55)


# The clock moving back ----------------------------------------------------------------------


def test_the_clock_moving_back_makes_nothing_twice() -> None:
    made = slot(3)
    assert decide(WEEKLY, made - HOUR, last=made).due is None
    assert decide(WEEKLY, made + 30 * MINUTE, last=made).due is None  # the same minute again
    assert decide(WEEKLY, made - 2 * WEEK, last=made).due is None  # two weeks back
    assert decide(WEEKLY, slot(4) + MINUTE, last=made).due == slot(4)  # and on from there


# DST: Europe/Berlin and America/New_York ----------------------------------------------------


def test_berlin_spring_a_time_that_does_not_exist_moves_forward_by_the_gap() -> None:
    nightly = make("day", "02:30", BERLIN)
    slots = next_slots(nightly, utc(2026, 3, 27, 12), 3)
    assert slots == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    assert slots[1].astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"
    assert decide(nightly, utc(2026, 3, 29, 1, 0), last=slots[0]).due is None  # 03:00 CEST


def test_berlin_autumn_a_repeated_time_is_the_first_of_the_two() -> None:
    nightly = make("day", "02:30", BERLIN)
    first = local(BERLIN, 2026, 10, 25, 2, 30, fold=0)
    second = local(BERLIN, 2026, 10, 25, 2, 30, fold=1)
    assert next_slots(nightly, utc(2026, 10, 24, 12)) == [first]
    assert first.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert decide(nightly, first + MINUTE, last=first - DAY).make
    # One hour later the wall clock shows 02:30 again: nothing is due the second time.
    assert decide(nightly, second + MINUTE, last=first).due is None
    assert next_slots(nightly, second) == [local(BERLIN, 2026, 10, 26, 2, 30)]


def test_berlin_nine_oclock_is_never_ambiguous() -> None:
    weekly = make("sunday", "09:00", BERLIN)
    assert next_slots(weekly, utc(2026, 10, 24), 1) == [utc(2026, 10, 25, 8, 0)]


def test_new_york_spring_and_autumn() -> None:
    nightly = make("day", "02:30", NEW_YORK)
    assert next_slots(nightly, utc(2026, 3, 8))[0] == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    early = make("day", "01:30", NEW_YORK)
    autumn = next_slots(early, utc(2026, 11, 1))[0]
    assert autumn == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first 01:30
    assert decide(early, utc(2026, 11, 1, 6, 31), last=autumn).due is None  # 01:31 EST
    weekly = make("monday", "09:00", NEW_YORK)
    assert [s.hour for s in next_slots(weekly, utc(2026, 10, 20), 2)] == [13, 14]


def test_a_timer_running_once_an_hour_over_the_autumn_night_makes_one_issue() -> None:
    nightly = make("day", "02:30", BERLIN)
    last: datetime | None = utc(2026, 10, 24, 0, 30)
    made = []
    tick = utc(2026, 10, 24, 22, 0)
    while tick < utc(2026, 10, 25, 6, 0):
        decision = decide(nightly, tick, last)
        if decision.make:
            made.append(decision.due)
            last = decision.due
        tick += 5 * MINUTE
    assert made == [utc(2026, 10, 25, 0, 30)]


ZONES = [BERLIN, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]


@given(
    zone=st.sampled_from(ZONES),
    every=st.sampled_from(["monday", "day", "2 weeks", "3 days", "7 hours", "45 minutes", "5s"]),
    at=st.times().map(lambda t: t.replace(microsecond=0)),
    moment=st.datetimes(min_value=datetime(2024, 1, 8), max_value=datetime(2030, 1, 1)),
)
def test_the_latest_slot_is_at_or_before_now_and_the_next_after_it(
    zone: ZoneInfo, every: str, at: time, moment: datetime
) -> None:
    schedule = make(every, at.strftime("%H:%M:%S"), zone)
    now = moment.replace(tzinfo=UTC)
    latest = latest_slot(schedule, now)
    upcoming = next_slots(schedule, now, 2)
    assert latest is not None and latest <= now < upcoming[0] < upcoming[1]
    assert next_slots(schedule, latest)[0] == upcoming[0]
    index = scheduler.index_at_or_before(schedule, now)
    assert slot_at(schedule, index) == latest and slot_at(schedule, index + 1) == upcoming[0]


# Display -------------------------------------------------------------------------------------


def test_slots_show_local_time_then_utc() -> None:
    assert scheduler.format_slot(utc(2026, 11, 30, 8), BERLIN) == "2026-11-30 09:00 CET (08:00 UTC)"
    late = scheduler.format_slot(utc(2026, 12, 1, 2, 0, 5), NEW_YORK)
    assert late == "2026-11-30 21:00:05 EST (2026-12-01 02:00:05 UTC)"


def test_durations_and_schedules_read_back_like_the_config() -> None:
    assert scheduler.format_duration(DAY + 12 * HOUR) == "1d12h"
    assert scheduler.format_duration(timedelta(0)) == "0s"
    assert scheduler.format_duration(DAY + timedelta(seconds=61), coarse=True) == "1d1m"
    assert scheduler.format_duration(timedelta(seconds=61), coarse=True) == "1m1s"
    assert WEEKLY.describe() == (
        "every monday at 09:00 Europe/Berlin (catch_up: latest, grace: 2d)"
    )
    fortnightly = make("2 weeks", start=date(2026, 1, 7)).describe()
    assert fortnightly.startswith("every 2 weeks on wednesday at 09:00 Europe/Berlin, counted")
    assert make("5 seconds").describe().startswith("every 5s, counted from 2024-01-01 09:00")


def test_a_naive_now_is_wall_time_in_the_schedule_zone() -> None:
    moment = scheduler.localize(datetime(2026, 11, 30, 9, 5), BERLIN)
    assert moment.astimezone(UTC) == utc(2026, 11, 30, 8, 5)
    aware = datetime(2026, 11, 30, 9, 5, tzinfo=UTC)
    assert scheduler.localize(aware, BERLIN) == aware


# The schedule section of digest.yaml ---------------------------------------------------------

BASE = 'title: "T"\nsender: "t@example.org"\n'


def config_with(tmp_path: Path, schedule: str) -> Path:
    path = tmp_path / "digest.yaml"
    path.write_text(BASE + "schedule:\n" + schedule, encoding="utf-8")
    return path


def test_the_schedule_section_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, "  every: monday\n  timezone: Europe/Berlin\n"))
    assert config.settings.schedule is not None
    schedule = config.settings.schedule.to_schedule()
    assert schedule == make("monday", "09:00", BERLIN, catch_up="latest", grace="2d")


def test_schedule_problems_are_listed_at_once_with_their_keys(tmp_path: Path) -> None:
    path = config_with(
        tmp_path,
        "  every: fortnight\n  at: 9:00\n  timezone: Europe/Berln\n  grace: 2x\n"
        "  catch_up: always\n  evry: monday\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = caught.value.message
    assert "6 problems" in message
    assert "schedule.every: expected a weekday" in message
    assert 'schedule.at: write the time in quotes, like at: "09:00"' in message
    assert "schedule.timezone: unknown time zone 'Europe/Berln'; did you mean" in message
    assert "schedule.grace: expected a duration like '2d'" in message
    assert "schedule.catch_up: expected 'latest' or 'skip'" in message
    assert "schedule.evry: unknown key; did you mean 'every'?" in message


def test_a_grace_under_a_minute_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"schedule\.grace: expected at least 1m"):
        load_config(config_with(tmp_path, "  every: day\n  grace: 10s\n"))


# Bounds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3650 days", Every(days=3650)),
        ("521 weeks", Every(days=3647)),
        ("87600 hours", Every(seconds=3650 * 86400)),
    ],
)
def test_intervals_up_to_ten_years_are_fine(text: str, expected: Every) -> None:
    assert parse_every(text) == expected


@pytest.mark.parametrize(
    "text",
    ["3651 days", "522 weeks", "87601 hours", "5000000 days", "99999999999 weeks", "9" * 30 + "s"],
)
def test_intervals_over_ten_years_are_refused_not_an_overflow(text: str) -> None:
    with pytest.raises(ValueError, match=r"at most 3650 days \(about ten years\)"):
        parse_every(text)


@pytest.mark.parametrize("value", ["99999999999d", "366d", "53w", 10**20, 365 * 86400 + 1])
def test_a_duration_over_its_limit_is_refused_not_an_overflow(value: str | int) -> None:
    with pytest.raises(ValueError, match=r"expected at most 365d"):
        parse_duration(value, at_most=scheduler.MAX_GRACE)
    assert parse_duration("365d", at_most=scheduler.MAX_GRACE) == 365 * DAY


def test_a_huge_duration_without_a_limit_is_refused_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="expected at most"):
        parse_duration("99999999999999d")
    with pytest.raises(ValueError, match="expected a duration like"):
        parse_duration(-(10**20))


def test_the_largest_schedule_allowed_has_slots_a_datetime_can_hold() -> None:
    schedule = make("3650 days", start=scheduler.LAST_START, grace="365d")
    last = scheduler.slot_on(scheduler.LAST_START, time(9), BERLIN)
    assert next_slots(schedule, last, 5)[-1].year == 3049
    assert decide(schedule, last + 364 * DAY, None).make
    early = make("3650 days", at="00:30", start=scheduler.FIRST_START)
    assert next_slots(early, utc(1969, 1, 1), 1) == [local(BERLIN, 1970, 1, 1, 0, 30)]


def test_out_of_range_schedule_values_are_config_problems(tmp_path: Path) -> None:
    path = config_with(
        tmp_path, '  every: "99999999999 weeks"\n  grace: 99999999999d\n  start: 9999-12-30\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = caught.value.message
    assert "3 problems" in message
    assert "schedule.every: expected an interval of at most 3650 days" in message
    assert "schedule.grace: expected at most 365d (got '99999999999d')" in message
    assert "schedule.start: expected a date from 1970-01-01 to 2999-12-31" in message


@pytest.mark.parametrize("grace", ["99999999999999999999", "1.0e+9"])
def test_a_grace_over_a_year_is_refused_however_it_is_written(tmp_path: Path, grace: str) -> None:
    with pytest.raises(ConfigError, match=r"schedule\.grace: expected at most 365d"):
        load_config(config_with(tmp_path, f"  every: day\n  grace: {grace}\n"))


@pytest.mark.parametrize(
    "command", [["check"], ["next"], ["run", "--once", "--no-send"]], ids=" ".join
)
def test_commands_report_a_too_long_interval_instead_of_overflowing(
    project: Path, digest: Callable[..., Result], command: list[str]
) -> None:
    config = project / "digest.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + "schedule:\n  every: 5000000 days\n",
        encoding="utf-8",
    )
    result = digest(*command)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    assert "schedule.every: expected an interval of at most 3650 days" in result.output
    assert "hint:" in result.output
