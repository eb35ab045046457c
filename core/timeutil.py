"""UTC inside, local only on screen.

A `Now` is passed to everything time-dependent so that tests can move time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO date nor an ISO instant") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=zone)
    return instant.astimezone(UTC)
