"""Deadlines as people type them: a date, or a number of business days from today.

`12.12` (the next 12 December), `12.12.2026`, `2026-12-12`, or `+N`: N
business days after today in the agency's calendar (weekends, public
holidays and closed dates skipped). A date before today is refused.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.base.business_time import BusinessCalendar
from core.base.i18n import gettext
from core.config.settings import ALWAYS_OPEN, Settings

# No deadline further than this many business days: a typo, not a plan.
MOST_BUSINESS_DAYS = 1000
_DAY_MONTH = re.compile(r"^(\d{1,2})[./](\d{1,2})(?:[./](\d{4}))?$")
_PLUS = re.compile(r"^\+\s*(\d+)$")


class BadDate(ValueError):
    """A deadline that cannot be read, or that is in the past; the message says which."""


def agency_calendar(settings: Settings) -> tuple[BusinessCalendar, ZoneInfo]:
    """The agency's calendar (the default response policy's) and its time zone."""
    name = settings.policies["default"].calendar
    config = settings.calendars.get(name)
    zone = config.timezone if config is not None and name != ALWAYS_OPEN else settings.timezone
    return settings.calendar(name), ZoneInfo(zone)


def add_business_days(calendar: BusinessCalendar, zone: ZoneInfo, start: date, days: int) -> date:
    """The business day `days` business days after `start` (`start` itself for 0,
    or the first business day from it)."""
    day = start
    while not calendar.is_business_day(day, zone):
        day += timedelta(days=1)
    for _ in range(days):
        day += timedelta(days=1)
        while not calendar.is_business_day(day, zone):
            day += timedelta(days=1)
    return day


def parse_deadline(text: str, today: date, calendar: BusinessCalendar, zone: ZoneInfo) -> date:
    """The date `text` names (see the module's docstring). Raises BadDate."""
    given = text.strip()
    plus = _PLUS.match(given)
    if plus:
        count = int(plus.group(1))
        if not 1 <= count <= MOST_BUSINESS_DAYS:
            raise BadDate(
                gettext("+N: N is a number of business days from 1 to {most}").format(
                    most=MOST_BUSINESS_DAYS
                )
            )
        return add_business_days(calendar, zone, today, count)
    found = _read(given, today)
    if found < today:
        raise BadDate(
            gettext("{day} is in the past: a deadline is today or later").format(
                day=found.strftime("%d.%m.%Y")
            )
        )
    return found


def _read(given: str, today: date) -> date:
    problem = BadDate(
        gettext("{text!r} is not a date: write 12.12, 12.12.2026, 2026-12-12 or +2").format(
            text=given
        )
    )
    short = _DAY_MONTH.match(given)
    if short:
        day, month, year = int(short.group(1)), int(short.group(2)), short.group(3)
        try:
            if year is not None:
                return date(int(year), month, day)
            found = date(today.year, month, day)
            # Without a year: the next such day (12.01 typed in December is January's).
            return found if found >= today else date(today.year + 1, month, day)
        except ValueError:
            raise problem from None
    try:
        return datetime.strptime(given, "%Y-%m-%d").date()
    except ValueError:
        raise problem from None
