"""Business days for the case SLA: Monday to Friday, optionally minus Ukrainian public holidays.

Under martial law (since 2022) Ukraine's public holidays are working days, so the default calendar is weekends only.
`NPS_CLOSELOOP_HOLIDAYS=ua` adds the statutory list of the Labour Code (art. 73, as amended in 2023), with art. 67's
rule that a holiday falling on a weekend moves the day off to the next working day; explicit ISO dates can be added.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

# (month, day) of the fixed-date holidays since the 2023 amendment
_UA_FIXED = ((1, 1), (3, 8), (5, 1), (5, 8), (6, 28), (7, 15), (8, 24), (10, 1), (12, 25))


def orthodox_easter(year: int) -> date:
    """Orthodox Easter Sunday (Julian computus, shifted to the Gregorian calendar; valid 1900-2099)."""
    a, b, c = year % 4, year % 7, year % 19
    d = (19 * c + 15) % 30
    e = (2 * a + 4 * b - d + 34) % 7
    month, day = divmod(d + e + 114, 31)
    return date(year, month, day + 1) + timedelta(days=13)


@lru_cache(maxsize=64)
def ukrainian_holidays(year: int) -> frozenset[date]:
    """Days off in `year`: the statutory holidays plus their weekend carry-over to the next working day."""
    easter = orthodox_easter(year)
    named = sorted([date(year, m, d) for m, d in _UA_FIXED] + [easter, easter + timedelta(days=49)])
    days_off: set[date] = set()
    for holiday in named:
        days_off.add(holiday)
        if holiday.weekday() >= 5:
            moved = holiday + timedelta(days=1)
            while moved.weekday() >= 5 or moved in days_off:
                moved += timedelta(days=1)
            days_off.add(moved)
    return frozenset(days_off)


class BusinessCalendar:
    def __init__(self, spec: str = ""):
        """spec: '' (weekends only), 'ua', or a comma list mixing 'ua' and ISO dates."""
        self.ukrainian = False
        self.extra: set[date] = set()
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            if part == "ua":
                self.ukrainian = True
                continue
            try:
                self.extra.add(date.fromisoformat(part))
            except ValueError as exc:
                raise ValueError(f"NPS_CLOSELOOP_HOLIDAYS: {part!r} is neither 'ua' nor an ISO date") from exc

    def is_business_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self.extra:
            return False
        return not (self.ukrainian and day in ukrainian_holidays(day.year))

    def add_business_days(self, start: date, days: int) -> date:
        """The `days`-th business day after `start` (0 = start itself, or the next business day if it is not one)."""
        if days < 0:
            raise ValueError("days must be >= 0")
        current = start
        if days == 0:
            while not self.is_business_day(current):
                current += timedelta(days=1)
            return current
        remaining = days
        while remaining:
            current += timedelta(days=1)
            if self.is_business_day(current):
                remaining -= 1
        return current

    def business_days_between(self, start: date, end: date) -> int:
        """Business days in (start, end]: how many business days `end` is past `start` (0 if not after)."""
        count, current = 0, start
        while current < end:
            current += timedelta(days=1)
            if self.is_business_day(current):
                count += 1
        return count
