"""Finnish working days: Monday to Friday except Finnish public holidays.

Holidays come from the ``holidays`` package (computed locally, no network). Its
Finnish calendar also lists Midsummer Eve and Christmas Eve, which are de facto days
off in the public sector, so they count as non-working days here too.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

__all__ = ["add_working_days", "is_working_day", "next_working_day", "working_days_between"]


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("FI", years=[year]).keys())


def is_working_day(day: date) -> bool:
    """A weekday that is not a Finnish public holiday."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the next working day."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def add_working_days(day: date, count: int) -> date:
    """The ``count``-th working day after ``day`` (``day`` itself does not count).

    ``add_working_days(Thursday before Good Friday, 1)`` is the Tuesday after Easter
    Monday. ``count`` 0 gives ``day`` unchanged.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    current = day
    left = count
    while left:
        current += timedelta(days=1)
        if is_working_day(current):
            left -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if ``end <= start``)."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count
