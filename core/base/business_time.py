"""Business time: the arithmetic behind response clocks.

A 15-minute response target counts only the hours the agency is open: a client
message that arrives at night starts counting when the office opens, and a
message at 12:55 before a lunch break is due after lunch. Everything here works
in UTC; local wall-clock shifts are turned into UTC intervals once per local
date and cached, because `add` runs for every client message during bulk
ingestion.
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.base.instants import midnight
from core.base.public_holidays import check_place, holiday_dates

ONE_DAY = timedelta(days=1)
ONE_MICROSECOND = timedelta(microseconds=1)
MIDNIGHT = time(0, 0)
# How many consecutive days without any open time `add` searches before it gives
# up: a calendar closed for three years is a configuration mistake, not a wait.
MAX_CLOSED_DAYS = 3 * 366
# How many local dates the short cuts of `add_many` and `between` look through
# for the first open interval (a long weekend) before they walk the long way.
FIRST_INTERVAL_DAYS = 8
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SHIFT_PATTERN = re.compile(r"\s*([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})\s*")

Shift = tuple[time, time]
Interval = tuple[datetime, datetime]


class BusinessCalendar(abc.ABC):
    """When the clock runs: response targets count business seconds, not wall seconds.

    Arguments must be timezone-aware (a naive datetime would silently be read in
    the wrong zone); results are aware datetimes in UTC.
    """

    @abc.abstractmethod
    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant at which `seconds` of business time have elapsed after `start`.

        `add(start, 0)` is the first open instant at or after `start`, so that a
        clock opened at night falls due at opening time plus its target.
        """

    def add_many(self, start: datetime, seconds: Sequence[float]) -> list[datetime]:
        """`add` for several durations from one start (a clock's warning, due, escalation)."""
        return [self.add(start, each) for each in seconds]

    @abc.abstractmethod
    def between(self, start: datetime, end: datetime) -> float:
        """Business seconds between two instants, 0.0 when `end <= start`.

        The inverse of `add` on open time: `between(s, add(s, x)) == x`, which is
        what lets a stopped clock report how much of its target it used.
        """

    @abc.abstractmethod
    def is_open(self, instant: datetime) -> bool:
        """Whether business time is running at `instant` (shifts are half-open)."""

    def next_open(self, instant: datetime) -> datetime:
        """The first open instant at or after `instant`: where a new clock starts counting."""
        return self.add(instant, 0.0)

    def is_business_day(self, day: date, zone: tzinfo) -> bool:
        """Whether the calendar is open at some time on local date `day` in `zone`.

        Weekends, public holidays and closed dates are not business days, even
        when something is planned for a time of day outside the shifts.
        """
        return self.between(midnight(day, zone), midnight(day + ONE_DAY, zone)) > 0


class AlwaysOpen(BusinessCalendar):
    """Round the clock, every day: business time is wall time."""

    def add(self, start: datetime, seconds: float) -> datetime:
        return _as_utc(start, "start") + _duration(seconds)

    def between(self, start: datetime, end: datetime) -> float:
        elapsed = (_as_utc(end, "end") - _as_utc(start, "start")).total_seconds()
        return max(elapsed, 0.0)

    def is_open(self, instant: datetime) -> bool:
        _as_utc(instant, "instant")
        return True

    def next_open(self, instant: datetime) -> datetime:
        return _as_utc(instant, "instant")

    def __repr__(self) -> str:
        return "AlwaysOpen()"


class ShiftCalendar(BusinessCalendar):
    """Local shifts per weekday in one time zone, minus public holidays and closed dates.

    Each local date's shifts become a short tuple of UTC intervals, computed on
    first use and cached, so that `add` and `between` after warm-up are a few
    comparisons and one time-zone conversion.
    """

    def __init__(
        self,
        timezone: str,
        shifts: Mapping[int, Sequence[tuple[time, time]]],
        country: str | None = None,
        subdivision: str | None = None,
        closed_dates: Iterable[date] = (),
    ) -> None:
        self._zone = _zone(timezone)
        self._timezone = timezone
        self._shifts = _validated_shifts(shifts)
        if country is None and subdivision is not None:
            raise ValueError(f"subdivision {subdivision!r} given without a country")
        if country is not None:
            check_place(country, subdivision)  # fails early on a bad name
        self._country = country
        self._subdivision = subdivision
        self._closed = frozenset(closed_dates)
        self._holidays_by_year: dict[int, frozenset[date]] = {}
        self._days: dict[date, tuple[Interval, ...]] = {}
        # Per local date, the intervals a walk from it meets first (see _first_interval).
        self._ahead: dict[date, tuple[tuple[date, datetime, datetime], ...]] = {}

    def __repr__(self) -> str:
        return (
            f"ShiftCalendar({self._timezone!r}, country={self._country!r}, "
            f"subdivision={self._subdivision!r})"
        )

    def add(self, start: datetime, seconds: float) -> datetime:
        return self.add_many(start, (seconds,))[0]

    def add_many(self, start: datetime, seconds: Sequence[float]) -> list[datetime]:
        """One walk over the open intervals for all durations: every clock opening
        asks for three instants, and walking once costs a third of three walks."""
        cursor = _as_utc(start, "start")
        durations = [_duration(each) for each in seconds]
        self._require_shifts()
        # The common case: every instant falls in the first open interval at or
        # after `start` (a clock opened in office hours, due the same shift).
        first = self._first_interval(cursor)
        if first is not None and durations:
            _, opens, closes = first
            begin = max(cursor, opens)
            if max(durations) <= closes - begin:
                return [begin + duration for duration in durations]
        return self._walk_add(cursor, durations, start)

    def _walk_add(
        self, cursor: datetime, durations: list[timedelta], start: datetime
    ) -> list[datetime]:
        """`add_many` the long way, interval after interval from `cursor`."""
        wanted = sorted((duration, position) for position, duration in enumerate(durations))
        found: list[datetime] = [cursor] * len(wanted)
        used, done = timedelta(0), 0
        if not wanted:
            return []
        for intervals in self._days_from(cursor):
            for opens, closes in intervals:
                if closes <= cursor:
                    continue
                cursor = max(cursor, opens)
                available = closes - cursor
                while done < len(wanted) and wanted[done][0] - used <= available:
                    duration, position = wanted[done]
                    found[position] = cursor + (duration - used)
                    done += 1
                if done == len(wanted):
                    return found
                used += available
                cursor = closes
        raise ValueError(
            f"{self!r} has no open time in {MAX_CLOSED_DAYS} consecutive days after {start}"
        )

    def between(self, start: datetime, end: datetime) -> float:
        cursor = _as_utc(start, "start")
        end = _as_utc(end, "end")
        if end <= cursor:
            return 0.0
        # The common cases: `end` falls in the first open interval that closes
        # after `start` (no later one can add to it, the walk's cursor being at
        # `end`), or before it opens, no later than its local date (the
        # intervals the walk meets after it open after it closes).
        first = self._first_interval(cursor)
        if first is not None:
            day, opens, closes = first
            begin = max(opens, cursor)
            if begin < end <= closes:
                return (end - begin).total_seconds()
            if end <= begin and self._local_date(end) <= day:
                return 0.0
        return self._walk_between(cursor, end)

    def _walk_between(self, cursor: datetime, end: datetime) -> float:
        """`between` the long way, every local date from `cursor`'s to `end`'s."""
        total = timedelta(0)
        day = self._local_date(cursor) - ONE_DAY
        last = self._local_date(end)
        while day <= last:
            for opens, closes in self._intervals(day):
                # The cursor never goes back, so time that two intervals share
                # (possible around a DST change) is counted once.
                low, high = max(opens, cursor), min(closes, end)
                if high > low:
                    total += high - low
                    cursor = high
            day += ONE_DAY
        return total.total_seconds()

    def is_open(self, instant: datetime) -> bool:
        moment = _as_utc(instant, "instant")
        day = self._local_date(moment)
        return any(
            opens <= moment < closes
            for local in (day - ONE_DAY, day)
            for opens, closes in self._intervals(local)
        )

    def _require_shifts(self) -> None:
        if not self._shifts:
            raise ValueError(f"{self!r} has no shifts: it is never open")

    def _first_interval(self, instant: datetime) -> tuple[date, datetime, datetime] | None:
        """The first interval that closes after `instant`, in the order a walk from
        `instant` meets them, with its local date; None past a week of closed days."""
        day = instant.astimezone(self._zone).date()
        ahead = self._ahead.get(day)
        if ahead is None:
            ahead = self._ahead[day] = tuple(
                (local, opens, closes)
                for local in (day + offset * ONE_DAY for offset in range(-1, FIRST_INTERVAL_DAYS))
                for opens, closes in self._intervals(local)
            )
        for interval in ahead:
            if interval[2] > instant:
                return interval
        return None

    def _days_from(self, instant: datetime) -> Iterator[tuple[Interval, ...]]:
        """Each local date's intervals from the day before `instant`'s local date on.

        The day before is included because its last shift may end after local
        midnight (a 24:00 end on a night when midnight happens twice). Stops after
        MAX_CLOSED_DAYS days in a row without open time.
        """
        day = self._local_date(instant) - ONE_DAY
        closed_run = 0
        while closed_run <= MAX_CLOSED_DAYS:
            intervals = self._intervals(day)
            closed_run = 0 if intervals else closed_run + 1
            yield intervals
            day += ONE_DAY

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self._zone).date()

    def _intervals(self, day: date) -> tuple[Interval, ...]:
        """The UTC intervals during which `day` (a local date) is open, cached."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        intervals: tuple[Interval, ...] = ()
        if not self._is_closed(day):
            shifts = self._shifts.get(day.weekday(), ())
            intervals = _merged(_shift_to_utc(day, shift, self._zone) for shift in shifts)
        self._days[day] = intervals
        return intervals

    def _is_closed(self, day: date) -> bool:
        return day in self._closed or day in self._holidays(day.year)

    def _holidays(self, year: int) -> frozenset[date]:
        """Public holidays of one year, looked up once (see core.base.public_holidays)."""
        if self._country is None:
            return frozenset()
        dates = self._holidays_by_year.get(year)
        if dates is None:
            dates = holiday_dates(self._country, self._subdivision, year)
            self._holidays_by_year[year] = dates
        return dates


def parse_shift(text: str) -> tuple[time, time]:
    """A shift written as in the configuration file, "09:00-13:00", as two times.

    "24:00" is accepted as an end and means midnight at the end of the day
    (returned as time(0, 0), the convention of `ShiftCalendar`); "00:00" is
    refused as an end, since a reader could take it for either midnight.
    """
    match = _SHIFT_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"shift {text!r} is not written like 09:00-13:00")
    start = _clock_time(text, int(match[1]), int(match[2]), is_end=False)
    end = _clock_time(text, int(match[3]), int(match[4]), is_end=True)
    _check_shift((start, end), f"shift {text!r}")
    return start, end


def _clock_time(text: str, hour: int, minute: int, *, is_end: bool) -> time:
    if is_end and (hour, minute) == (24, 0):
        return MIDNIGHT
    if is_end and (hour, minute) == (0, 0):
        raise ValueError(f"shift {text!r}: write midnight at the end of a shift as 24:00")
    if hour > 23 or minute > 59:
        raise ValueError(f"shift {text!r}: {hour:02d}:{minute:02d} is not a time of day")
    return time(hour, minute)


def _end_offset(end: time) -> timedelta:
    """How far into the day a shift ends; time(0, 0) means the end of the day."""
    return ONE_DAY if end == MIDNIGHT else _start_offset(end)


def _start_offset(moment: time) -> timedelta:
    return timedelta(
        hours=moment.hour,
        minutes=moment.minute,
        seconds=moment.second,
        microseconds=moment.microsecond,
    )


def _check_shift(shift: Shift, where: str) -> None:
    start, end = shift
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError(f"{where}: shift times are local wall-clock times, without tzinfo")
    if _end_offset(end) <= _start_offset(start):
        raise ValueError(f"{where}: ends at or before it starts")


def _validated_shifts(shifts: Mapping[int, Sequence[Shift]]) -> dict[int, tuple[Shift, ...]]:
    """The shifts per weekday, sorted, refusing anything ambiguous rather than guessing."""
    result: dict[int, tuple[Shift, ...]] = {}
    for weekday, day_shifts in shifts.items():
        if weekday not in range(7):
            raise ValueError(f"weekday {weekday!r} is not 0 (Monday) to 6 (Sunday)")
        name = WEEKDAY_NAMES[weekday]
        ordered = sorted(day_shifts, key=lambda shift: _start_offset(shift[0]))
        for shift in ordered:
            _check_shift(shift, f"{name} shift {_format_shift(shift)}")
        for earlier, later in pairwise(ordered):
            if _start_offset(later[0]) < _end_offset(earlier[1]):
                raise ValueError(
                    f"{name} shifts {_format_shift(earlier)} and {_format_shift(later)} overlap"
                )
        if ordered:
            result[weekday] = tuple(ordered)
    return result


def _format_shift(shift: Shift) -> str:
    start, end = shift
    end_text = "24:00" if end == MIDNIGHT else end.isoformat("minutes")
    return f"{start.isoformat('minutes')}-{end_text}"


def _shift_to_utc(day: date, shift: Shift, zone: tzinfo) -> Interval:
    start, end = shift
    opens = datetime.combine(day, start).replace(fold=0)
    closes = datetime.combine(day + ONE_DAY if end == MIDNIGHT else day, end).replace(fold=0)
    return _local_to_utc(opens, zone, later=False), _local_to_utc(closes, zone, later=True)


def _local_to_utc(local: datetime, zone: tzinfo, *, later: bool) -> datetime:
    """A naive local wall-clock time as a UTC instant, across DST changes.

    The choice, so that a shift counts the time that really elapses:
    - a wall time that happens twice (clocks going back) is read as its first
      occurrence for a shift's start and its second for a shift's end (`later`),
      so 00:00-06:00 on the night clocks go back lasts 7 hours;
    - a wall time that never happens (clocks going forward) is moved to the end
      of the gap, the instant clocks jump, so 00:00-06:00 on the night clocks go
      forward lasts 5 hours and a shift lying wholly inside the gap is empty.
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first <= second:  # equal unless the wall time happens twice
        return second if later else first
    # In a gap fold=0 applies the offset from before the jump, fold=1 the one from
    # after, so the jump lies in (second, first].
    return _transition(second, first, zone)


def _transition(before: datetime, after: datetime, zone: tzinfo) -> datetime:
    """The first UTC instant in (before, after] that has the UTC offset of `after`."""
    target = after.astimezone(zone).utcoffset()
    low, high = 0, (after - before) // ONE_MICROSECOND
    while high - low > 1:
        middle = (low + high) // 2
        if (before + middle * ONE_MICROSECOND).astimezone(zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return before + high * ONE_MICROSECOND


def _merged(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted, non-empty, non-overlapping intervals; touching ones joined.

    Shifts that do not overlap on the wall clock can overlap in UTC when one ends
    and the next starts in the repeated hour of a DST change.
    """
    result: list[Interval] = []
    for opens, closes in sorted(intervals):
        if closes <= opens:
            continue
        if result and opens <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], closes))
        else:
            result.append((opens, closes))
    return tuple(result)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name)") from None


def _as_utc(instant: datetime, name: str) -> datetime:
    """`instant` in UTC; a naive datetime is refused, as guessing its zone shifts clocks."""
    if instant.tzinfo is UTC:
        return instant
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} {instant.isoformat()} is naive: pass a timezone-aware datetime")
    return instant.astimezone(UTC)


def _duration(seconds: float) -> timedelta:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, not {seconds!r}")
    return timedelta(seconds=seconds)
