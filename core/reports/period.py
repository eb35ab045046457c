"""The period a client report covers: whole local days, a week or any span.

The days are the agency's local days (its time zone): a report of week
2026-W48 covers Monday 23 November 00:00 to Monday 30 November 00:00, local
time. A period that has not begun is refused; one that has begun and not
ended covers what happened so far.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from core.base.instants import midnight

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


class PeriodError(ValueError):
    """A period that cannot be reported on: malformed, reversed or in the future."""


class ReportPeriod(NamedTuple):
    """From `first` to `last`, both local days included."""

    first: date
    last: date

    @classmethod
    def week(cls, text: str) -> ReportPeriod:
        """An ISO week, written 2026-W48 (or 2026W48): Monday to Sunday."""
        found = _WEEK.match(text.strip())
        if found is None:
            raise PeriodError(f"{text!r} is not a week (write it like 2026-W48)")
        year, number = int(found.group(1)), int(found.group(2))
        try:
            monday = date.fromisocalendar(year, number, 1)
        except ValueError:
            raise PeriodError(f"{text!r}: {year} has no week {number}") from None
        return cls(monday, monday + timedelta(days=6))

    @classmethod
    def days(cls, first: date, last: date) -> ReportPeriod:
        if last < first:
            raise PeriodError(f"the period ends ({last}) before it starts ({first})")
        return cls(first, last)

    def instants(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[since, until) in UTC: the first day's local midnight to the one after the last day."""
        since = midnight(self.first, zone).astimezone(UTC)
        until = midnight(self.last + timedelta(days=1), zone).astimezone(UTC)
        return since, until

    def check_started(self, today: date) -> None:
        """Refuse a period whose first day is after `today` (the agency's local day)."""
        if self.first > today:
            raise PeriodError(
                f"the period {self.first} to {self.last} is in the future (today is {today})"
            )

    @property
    def iso_week(self) -> str | None:
        """2026-W48 when the period is exactly one ISO week, else None."""
        year, number, weekday = self.first.isocalendar()
        if weekday == 1 and self.last == self.first + timedelta(days=6):
            return f"{year}-W{number:02d}"
        return None
