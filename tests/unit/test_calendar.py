"""Finnish working days: weekends and public holidays (Easter, Midsummer, Christmas)."""

from __future__ import annotations

from datetime import date

import pytest

from access.calendar import (
    add_working_days,
    is_working_day,
    next_working_day,
    working_days_between,
)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 1),  # New Year's Day
        date(2026, 1, 6),  # Epiphany
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 1),  # May Day
        date(2026, 5, 14),  # Ascension Day
        date(2026, 6, 19),  # Midsummer Eve
        date(2026, 12, 24),  # Christmas Eve
        date(2026, 12, 25),  # Christmas Day
        date(2026, 12, 26),  # St Stephen's Day
        date(2026, 12, 6),  # Independence Day (a Sunday in 2026)
        date(2027, 12, 6),  # Independence Day on a Monday
        date(2026, 3, 7),  # an ordinary Saturday
        date(2026, 3, 8),  # an ordinary Sunday
    ],
)
def test_holidays_and_weekends_are_not_working_days(day: date) -> None:
    assert not is_working_day(day)


def test_an_ordinary_weekday_is_a_working_day() -> None:
    assert is_working_day(date(2026, 3, 4))
    assert is_working_day(date(2026, 12, 23))  # the day before Christmas Eve


def test_thursday_before_good_friday_plus_one_is_the_tuesday_after_easter() -> None:
    assert add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)
    assert add_working_days(date(2026, 4, 2), 3) == date(2026, 4, 9)


def test_midsummer_and_christmas_are_skipped() -> None:
    assert add_working_days(date(2026, 6, 18), 1) == date(2026, 6, 22)  # Thu -> Mon
    assert add_working_days(date(2026, 12, 23), 1) == date(2026, 12, 28)
    assert add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)  # over New Year


def test_zero_and_negative_counts() -> None:
    assert add_working_days(date(2026, 4, 4), 0) == date(2026, 4, 4)
    with pytest.raises(ValueError):
        add_working_days(date(2026, 4, 4), -1)


def test_next_working_day_and_counting() -> None:
    assert next_working_day(date(2026, 4, 3)) == date(2026, 4, 7)
    assert next_working_day(date(2026, 4, 7)) == date(2026, 4, 7)
    assert working_days_between(date(2026, 4, 2), date(2026, 4, 7)) == 1
    assert working_days_between(date(2026, 4, 7), date(2026, 4, 2)) == 0
    assert working_days_between(date(2026, 3, 2), date(2026, 3, 9)) == 5
