"""UTC inside, local only on screen.

A `Now` is passed to everything time-dependent so that tests can move time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import NamedTuple

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def midnight(day: date, zone: tzinfo) -> datetime:
    """The local start of `day` in `zone` (aware, in that zone)."""
    return datetime.combine(day, time(), tzinfo=zone)


def as_date(value: str | date) -> date:
    """A date as SQLite hands it back: an ISO string, or already a date."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def parse_instant(text: str, zone: tzinfo, *, end_of_day: bool = False) -> datetime:
    """An ISO date or instant from the command line, as aware UTC.

    A bare date means its local midnight in `zone` (the agency's), or the
    next day's with `end_of_day`, so that `--until 2026-11-23` includes that
    whole day, 23 or 25 hours long on the days the clocks change. An instant
    without an offset is a wall-clock time in `zone` too.
    """
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if end_of_day:
            day += timedelta(days=1)
        return midnight(day, zone).astimezone(UTC)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO date nor an ISO instant") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=zone)
    return instant.astimezone(UTC)


_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])")


class Period(NamedTuple):
    """A length of time as people give it: local days (a week is 7), then elapsed time."""

    days: int
    elapsed: timedelta

    def after(self, instant: datetime, zone: tzinfo) -> datetime:
        """`instant` plus the period, as aware UTC.

        The days move the local date and keep the local time (a week after a
        Monday 00:00 is the next Monday 00:00, even across a clock change);
        hours and minutes are then added as elapsed time.
        """
        local = instant.astimezone(zone).replace(tzinfo=None) + timedelta(days=self.days)
        return local.replace(tzinfo=zone).astimezone(UTC) + self.elapsed

    def before(self, instant: datetime, zone: tzinfo) -> datetime:
        """`instant` less the period: the elapsed time first, then the local days."""
        return Period(-self.days, timedelta()).after(instant - self.elapsed, zone)


def parse_period(text: str) -> Period:
    """A length of time from the command line: 7d, 2w, 12h, 90m, 1d12h; a bare number is days."""
    value = text.strip().lower()
    if value.isdigit():
        value += "d"
    parts = _PERIOD_PART.findall(value)
    if not parts or _PERIOD_PART.sub("", value).strip():
        raise ValueError(f"{text!r} is not a period (write it like 7d, 2w, 12h or 1d12h)")
    days, elapsed = 0, timedelta()
    for amount, unit in parts:
        if unit in "wd":
            days += int(amount) * (7 if unit == "w" else 1)
        else:
            elapsed += timedelta(**{"hours" if unit == "h" else "minutes": int(amount)})
    if days == 0 and not elapsed:
        raise ValueError(f"{text!r} is not a period: it must be longer than nothing")
    return Period(days, elapsed)
