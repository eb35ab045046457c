"""The SLA report: how many answers came within target, and how fast.

A clock counts in a period when its answer (its stop) falls in the period.
Clocks closed as "no reply needed" are counted apart and left out of the
share met and the response times. Open clocks are those running now that
started before the end of the period; a running clock already past due is
a breach too, so a team cannot look good by not answering.

The whole local days of the period come from the rollups (core.sla.rollups:
a row per day or month and per staff member, client or everyone, with the
answers' times as sorted arrays); what is left at either end, the hours
before the first local midnight and after the last, is read exactly from
the clock table. Medians and p90s come out within 0.05 s of the exact ones,
whatever the period: a year reads a few hundred rows per line.

The series behind the charts: the share met per local day comes from the
day rollups for whole days in the rollups' zone (partial days and other
zones read their stops); the median per local hour reads its period's stops
once, in stop order, and cuts them at the hour boundaries by bisection (the
dashboard asks it of today only).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from core.base.instants import midnight
from core.sla.rollups import (
    ALL,
    CLIENT,
    DAY,
    NONE,
    STAFF,
    Tally,
    add_clocks,
    percentiles,
    read_days,
    stored_zone,
)
from core.store.reader import Reader, Row, stamp

UNASSIGNED = "(nobody)"
NO_CLIENT = "(no client)"

_STOPPED = """
SELECT c.outcome, c.business_seconds, c.wall_seconds, c.stopped_by_staff, t.client_id
  FROM clock c JOIN thread t ON t.id = c.thread_id
 WHERE c.stopped_at >= :since AND c.stopped_at < :until
"""
_OPEN = """
SELECT t.client_id, count(*), sum(CASE WHEN c.due_at < :now THEN 1 ELSE 0 END)
  FROM clock c JOIN thread t ON t.id = c.thread_id
 WHERE c.outcome = 'running' AND c.started_at < :until
 GROUP BY t.client_id
"""


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) of sorted values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# The report's values are named tuples, not dataclasses: the dataclasses
# module and each class it builds cost `pmdesk report sla` its start-up.


class SlaLine(NamedTuple):
    """The figures for one staff member, one client, or everyone."""

    name: str
    answered: int = 0
    met: int = 0
    breached: int = 0
    no_reply_needed: int = 0
    open: int = 0
    open_breached: int = 0
    share_met: float | None = None
    median_business_seconds: float | None = None
    p90_business_seconds: float | None = None
    median_wall_seconds: float | None = None
    p90_wall_seconds: float | None = None

    @property
    def breaches(self) -> int:
        """Answers that came late, and clocks still running past due."""
        return self.breached + self.open_breached

    def as_dict(self) -> dict[str, Any]:
        return self._asdict() | {"breaches": self.breaches}


class SlaReport(NamedTuple):
    since: datetime
    until: datetime
    overall: SlaLine
    by_staff: list[SlaLine]
    by_client: list[SlaLine]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "overall": self.overall.as_dict(),
            "by_staff": [line.as_dict() for line in self.by_staff],
            "by_client": [line.as_dict() for line in self.by_client],
        }


def sla_report(reader: Reader, since: datetime, until: datetime, now: datetime) -> SlaReport:
    zone = stored_zone(reader)
    tallies: dict[tuple[str, int], Tally] = {}
    exact: list[tuple[datetime, datetime]] = [(since, until)]
    whole = _whole_days(since, until, zone) if zone is not None else None
    if whole is not None:
        first, end = whole
        read_days(reader, first, end, tallies)
        assert zone is not None
        exact = [(since, midnight(first, zone)), (midnight(end, zone), until)]
    for low, high in exact:
        if low < high:
            add_clocks(reader.rows(_STOPPED, {"since": low, "until": high}), tallies)
    open_by_client = {
        client or NONE: (count, late or 0)
        for client, count, late in reader.rows(_OPEN, {"until": until, "now": now})
    }
    staff_names: dict[int, str] = dict(reader.rows("SELECT id, name FROM staff"))
    client_names: dict[int, str] = dict(reader.rows("SELECT id, name FROM client"))

    total_open = sum(count for count, _ in open_by_client.values())
    total_late = sum(late for _, late in open_by_client.values())
    overall = _line("everyone", tallies.get((ALL, NONE), Tally()), (total_open, total_late))
    # A staff member has a line for the answers they wrote ("no reply
    # needed" alone gives none); a client for any clock of theirs.
    staff_lines = [
        _line(staff_names.get(member, UNASSIGNED), tally)
        for (dimension, member), tally in tallies.items()
        if dimension == STAFF and tally.answered
    ]
    # (A month row less its days outside may leave a client nothing.)
    client_keys = {
        member
        for (dimension, member), tally in tallies.items()
        if dimension == CLIENT and (tally.answered or tally.no_reply_needed)
    }
    client_lines = [
        _line(
            client_names.get(member, NO_CLIENT),
            tallies.get((CLIENT, member), Tally()),
            open_by_client.get(member, (0, 0)),
        )
        for member in client_keys | open_by_client.keys()
    ]
    return SlaReport(since, until, overall, _ranked(staff_lines), _ranked(client_lines))


def _whole_days(since: datetime, until: datetime, zone: ZoneInfo) -> tuple[date, date] | None:
    """The local days [first, end) of `zone` wholly inside [since, until), if any."""
    first = since.astimezone(zone).date()
    if midnight(first, zone) < since:
        first += timedelta(days=1)
    end = until.astimezone(zone).date()
    return (first, end) if first < end else None


def _line(name: str, tally: Tally, open_clocks: tuple[int, int] = (0, 0)) -> SlaLine:
    answered = tally.answered
    median_business, p90_business = percentiles(tally.business, _SHARES, tally.less_business)
    median_wall, p90_wall = percentiles(tally.wall, _SHARES, tally.less_wall)
    return SlaLine(
        name=name,
        answered=answered,
        met=tally.met,
        breached=tally.breached,
        no_reply_needed=tally.no_reply_needed,
        open=open_clocks[0],
        open_breached=open_clocks[1],
        share_met=tally.met / answered if answered else None,
        median_business_seconds=median_business,
        p90_business_seconds=p90_business,
        median_wall_seconds=median_wall,
        p90_wall_seconds=p90_wall,
    )


_SHARES = (0.5, 0.9)


def _ranked(lines: list[SlaLine]) -> list[SlaLine]:
    return sorted(lines, key=lambda line: (-line.answered - line.open, line.name))


# -- series: the period cut into local days or hours, for charts ------------------------

# Only clock columns, so SQLite answers from the covering index ix_clock_stopped
# alone; ordered by stop so each day or hour is one slice found by bisection.
_STOPPED_TIMES = """
SELECT c.stopped_at, c.outcome, c.business_seconds
  FROM clock c
 WHERE c.stopped_at >= :since AND c.stopped_at < :until
 ORDER BY c.stopped_at
"""
_AT, _OUTCOME, _BUSINESS = range(3)
_ANSWERS = frozenset({"met", "breached"})
_TICK = timedelta(microseconds=1)


class DayShare(NamedTuple):
    """One local calendar day: its answers (clocks stopped that day) and how many met target.

    `breaches` counts answers that came late that day; clocks still running
    past due belong to no day and are counted by `sla_report` instead.
    """

    day: date
    answered: int
    met: int
    share_met: float | None
    breaches: int


class HourPoint(NamedTuple):
    """One local hour, `start` being its beginning in the report's zone."""

    start: datetime
    answered: int
    median_business_seconds: float | None


class _Window(NamedTuple):
    """A span of local time, clipped to the period asked for."""

    label: datetime
    start: datetime
    end: datetime


def daily_share_met(
    reader: Reader, since: datetime, until: datetime, tz: ZoneInfo
) -> list[DayShare]:
    """Each local day (in tz) that [since, until) touches, with its answers' outcomes."""
    windows = _local_days(since, until, tz)
    from_rollups: dict[date, tuple[int, int]] = {}
    zone = stored_zone(reader)
    if zone is not None and zone.key == tz.key:
        whole = [window for window in windows if _is_whole_day(window, tz)]
        if whole:
            rows = reader.rows(
                _DAY_ROWS,
                {
                    "span": DAY,
                    "first": whole[0].label.date().isoformat(),
                    "last": whole[-1].label.date().isoformat(),
                },
            )
            counted = {_as_day(start): (met, breached) for start, met, breached in rows}
            from_rollups = {
                window.label.date(): counted.get(window.label.date(), (0, 0)) for window in whole
            }
    # Without rollups the windows follow each other: one query cut by bisection.
    # With them, at most the two partial days at the ends: one query each.
    rest = [window for window in windows if window.label.date() not in from_rollups]
    runs = [[window] for window in rest] if from_rollups else [rest]
    sliced = {
        window.label: rows
        for run in runs
        for window, rows in zip(run, _sliced(reader, run), strict=True)
    }
    return [
        _day_from(window.label.date(), *from_rollups[window.label.date()])
        if window.label.date() in from_rollups
        else _day_share(window.label.date(), sliced[window.label])
        for window in windows
    ]


_DAY_ROWS = """
SELECT start, met, breached FROM slarollup
 WHERE span = :span AND start >= :first AND start <= :last AND dimension = 'all'
"""


def _is_whole_day(window: _Window, tz: ZoneInfo) -> bool:
    return window.start == window.label and window.end == midnight(
        window.label.date() + timedelta(days=1), tz
    )


def _as_day(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def hourly_response_times(
    reader: Reader, since: datetime, until: datetime, tz: ZoneInfo
) -> list[HourPoint]:
    """Each local hour (in tz) that [since, until) touches, with its answers' median time.

    A day when clocks go back has 25 hours: the repeated hour comes twice, told
    apart by its UTC offset (and `fold`).
    """
    windows = _local_hours(since, until, tz)
    return [
        _hour_point(window.label, rows)
        for window, rows in zip(windows, _sliced(reader, windows), strict=True)
    ]


def _day_share(day: date, rows: list[Row]) -> DayShare:
    outcomes = Counter(row[_OUTCOME] for row in rows)
    return _day_from(day, outcomes["met"], outcomes["breached"])


def _day_from(day: date, met: int, breached: int) -> DayShare:
    answered = met + breached
    return DayShare(
        day=day,
        answered=answered,
        met=met,
        share_met=met / answered if answered else None,
        breaches=breached,
    )


def _hour_point(start: datetime, rows: list[Row]) -> HourPoint:
    times = sorted(row[_BUSINESS] or 0.0 for row in rows if row[_OUTCOME] in _ANSWERS)
    return HourPoint(start, len(times), percentile(times, 0.5))


def _sliced(reader: Reader, windows: list[_Window]) -> list[list[Row]]:
    """The stopped clocks of each window, read with one query over all of them."""
    if not windows:
        return []
    rows = reader.rows(_STOPPED_TIMES, {"since": windows[0].start, "until": windows[-1].end})
    if not rows:
        return [[] for _ in windows]
    sample = rows[0][_AT]
    edges = [
        bisect_left(rows, _stored_like(sample, window.start), key=itemgetter(_AT))
        for window in windows
    ]
    edges.append(len(rows))
    return [rows[low:high] for low, high in pairwise(edges)]


def _stored_like(sample: object, moment: datetime) -> Any:
    """`moment` in the form the driver returned instants in, so the two compare in order."""
    if isinstance(sample, str):
        return stamp(moment)  # SQLite: naive-UTC text
    if isinstance(sample, datetime) and sample.tzinfo is None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _local_days(since: datetime, until: datetime, tz: ZoneInfo) -> list[_Window]:
    since, until = _in_utc(since, until)
    if until <= since:
        return []
    day, last = since.astimezone(tz).date(), (until - _TICK).astimezone(tz).date()
    windows = []
    while day <= last:
        start, end = midnight(day, tz), midnight(day + timedelta(days=1), tz)
        windows.append(_Window(start, max(start, since), min(end, until)))
        day += timedelta(days=1)
    return windows


def _local_hours(since: datetime, until: datetime, tz: ZoneInfo) -> list[_Window]:
    since, until = _in_utc(since, until)
    windows = []
    start = _hour_floor(since.astimezone(tz))
    while start < until:
        end = _next_hour(start, tz)
        windows.append(_Window(start, max(start, since), min(end, until)))
        start = end
    return windows


def _in_utc(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    # Python compares two datetimes of the same zone by wall time, fold
    # ignored, which misorders the repeated hour; across zones it compares
    # instants. Local boundaries are then always compared with UTC ones.
    return since.astimezone(UTC), until.astimezone(UTC)


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _next_hour(start: datetime, tz: ZoneInfo) -> datetime:
    # Through UTC: arithmetic on aware datetimes of one zone is wall-clock
    # arithmetic in Python, which would skip or repeat hours across DST.
    later = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    floored = _hour_floor(later)
    # Zones whose offset changes by half an hour would floor back onto start.
    return floored if floored > start else later
