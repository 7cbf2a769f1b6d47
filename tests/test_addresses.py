"""The quick mailbox splitter and date writer must say what the standard library says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parseaddr

from hypothesis import given
from hypothesis import strategies as st

from newsletter_digest.addresses import date_header, is_simple_name, split_address
from newsletter_digest.compose import _from_header, _policies, to_address

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
atoms = st.text(st.sampled_from(ATEXT), min_size=1, max_size=8)
names = st.lists(atoms, min_size=1, max_size=4).map(" ".join)
addresses = st.builds(
    "{}@{}.{}".format,
    st.lists(atoms, min_size=1, max_size=3).map(".".join),
    st.text(st.sampled_from("abc019-"), min_size=1, max_size=8),
    st.sampled_from(["org", "example", "co-op"]),
)
odd = st.lists(st.sampled_from([*'ab <>@."\\,;:()[]é \t', "=?utf-8?q?x?="]), max_size=30).map(
    "".join
)


@given(names, addresses)
def test_simple_mailboxes_split_as_parseaddr_splits_them(name: str, address: str) -> None:
    for value in (f"{name} <{address}>", address):
        assert split_address(value) == parseaddr(value)
    assert is_simple_name(name)


@given(st.one_of(odd, st.builds("{} <{}>".format, odd, addresses)))
def test_anything_else_is_what_parseaddr_says(value: str) -> None:
    assert split_address(value) == parseaddr(value)


@given(names, addresses)
def test_a_plain_from_line_is_the_one_the_policy_writes(name: str, address: str) -> None:
    for sender in (f"{name} <{address}>", address):
        wire = _policies()[0]
        expected = wire.fold_binary(*wire.header_store_parse("From", to_address(sender)))
        assert _from_header(sender) == expected


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31)),
    st.one_of(
        st.none(),
        st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m))),
    ),
)
def test_date_header_is_format_datetime(when: datetime, zone: timezone | None) -> None:
    value = when.replace(tzinfo=zone)
    assert date_header(value) == format_datetime(value)


def test_date_header_is_english_whatever_the_day() -> None:
    assert (
        date_header(datetime(2026, 11, 30, 9, 0, tzinfo=UTC)) == "Mon, 30 Nov 2026 09:00:00 +0000"
    )
