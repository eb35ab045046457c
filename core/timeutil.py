"""UTC inside, local only on screen.

A `Now` is passed to everything time-dependent so that tests can move time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO date or instant from the command line, as aware UTC.

    A bare date means its start (or the start of the next day with
    `end_of_day`, so that `--until 2026-11-23` includes that whole day);
    an instant without an offset is refused, since guessing a zone would
    shift a report by hours without anyone noticing.
    """
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO date nor an ISO instant") from None
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (write it like 2026-11-23T09:00+01:00)")
    return instant.astimezone(UTC)
