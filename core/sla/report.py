"""The SLA report: how many answers came within target, and how fast.

A clock counts in a period when its answer (its stop) falls in the period.
Clocks closed as "no reply needed" are counted apart and left out of the
share met and the response times. Open clocks are those running now that
started before the end of the period; a running clock already past due is
a breach too, so a team cannot look good by not answering.

One query fetches the few numeric columns of the period's stopped clocks
and the statistics are computed here: SQLite has no percentile function,
and sorting a few hundred thousand floats in Python takes milliseconds.

The series behind the charts (share met per local day, median response time
per local hour) read their period's stops once, in stop order, and cut them
at the local day or hour boundaries by bisection.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from core.base.instants import midnight
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
OUTCOME, BUSINESS, WALL, STAFF, CLIENT = range(5)


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) of sorted values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class SlaLine:
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
        return asdict(self) | {"breaches": self.breaches}


@dataclass(frozen=True)
class SlaReport:
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
    stopped = reader.rows(_STOPPED, {"since": since, "until": until})
    open_by_client = {
        client: (count, late or 0)
        for client, count, late in reader.rows(_OPEN, {"until": until, "now": now})
    }
    staff_names: dict[int, str] = dict(reader.rows("SELECT id, name FROM staff"))
    client_names: dict[int, str] = dict(reader.rows("SELECT id, name FROM client"))

    # Each group's times must be sorted for its percentiles: sorting all rows
    # once per measure and grouping afterwards (grouping keeps the order) is
    # much cheaper than sorting every group of every grouping.
    counts = _Counts(stopped)
    by_business = sorted(counts.answered, key=lambda row: row[BUSINESS] or 0.0)
    by_wall = sorted(counts.answered, key=lambda row: row[WALL] or 0.0)
    total_open = sum(count for count, _ in open_by_client.values())
    total_late = sum(late for _, late in open_by_client.values())
    overall = counts.line("everyone", None, by_business, by_wall, (total_open, total_late))
    staff_lines = [
        counts.line(staff_names.get(key, UNASSIGNED), (STAFF, key), business, wall)
        for key, business, wall in _paired_groups(by_business, by_wall, STAFF)
    ]
    client_groups = {
        key: (business, wall)
        for key, business, wall in _paired_groups(by_business, by_wall, CLIENT)
    }
    client_keys = client_groups.keys() | open_by_client.keys() | counts.keys(CLIENT)
    client_lines = [
        counts.line(
            client_names.get(key, NO_CLIENT) if key is not None else NO_CLIENT,
            (CLIENT, key),
            *client_groups.get(key, ([], [])),
            open_by_client.get(key, (0, 0)),
        )
        for key in client_keys
    ]
    return SlaReport(since, until, overall, _ranked(staff_lines), _ranked(client_lines))


class _Counts:
    """Outcomes counted per staff member and per client, in one pass."""

    def __init__(self, stopped: list[Row]) -> None:
        self.answered = [row for row in stopped if row[OUTCOME] != "no_reply_needed"]
        self.total = Counter(map(itemgetter(OUTCOME), stopped))
        self.per: dict[tuple[int, Any], Counter[str]] = defaultdict(Counter)
        for row in stopped:
            self.per[(STAFF, row[STAFF])][row[OUTCOME]] += 1
            self.per[(CLIENT, row[CLIENT])][row[OUTCOME]] += 1

    def keys(self, column: int) -> set[Any]:
        return {key for kind, key in self.per if kind == column}

    def line(
        self,
        name: str,
        group: tuple[int, Any] | None,
        business: list[Row],
        wall: list[Row],
        open_clocks: tuple[int, int] = (0, 0),
    ) -> SlaLine:
        outcomes = self.total if group is None else self.per.get(group, Counter())
        answered = outcomes["met"] + outcomes["breached"]
        times_business = [row[BUSINESS] or 0.0 for row in business]
        times_wall = [row[WALL] or 0.0 for row in wall]
        return SlaLine(
            name=name,
            answered=answered,
            met=outcomes["met"],
            breached=outcomes["breached"],
            no_reply_needed=outcomes["no_reply_needed"],
            open=open_clocks[0],
            open_breached=open_clocks[1],
            share_met=outcomes["met"] / answered if answered else None,
            median_business_seconds=percentile(times_business, 0.5),
            p90_business_seconds=percentile(times_business, 0.9),
            median_wall_seconds=percentile(times_wall, 0.5),
            p90_wall_seconds=percentile(times_wall, 0.9),
        )


def _paired_groups(
    by_business: list[Row], by_wall: list[Row], column: int
) -> list[tuple[Any, list[Row], list[Row]]]:
    business, wall = _grouped(by_business, column), _grouped(by_wall, column)
    return [(key, rows, wall[key]) for key, rows in business.items()]


def _grouped(rows: Iterable[Row], column: int) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row[column]].append(row)
    return groups


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


@dataclass(frozen=True)
class DayShare:
    """One local calendar day: its answers (clocks stopped that day) and how many met target.

    `breaches` counts answers that came late that day; clocks still running
    past due belong to no day and are counted by `sla_report` instead.
    """

    day: date
    answered: int
    met: int
    share_met: float | None
    breaches: int


@dataclass(frozen=True)
class HourPoint:
    """One local hour, `start` being its beginning in the report's zone."""

    start: datetime
    answered: int
    median_business_seconds: float | None


@dataclass(frozen=True)
class _Window:
    """A span of local time, clipped to the period asked for."""

    label: datetime
    start: datetime
    end: datetime


def daily_share_met(
    reader: Reader, since: datetime, until: datetime, tz: ZoneInfo
) -> list[DayShare]:
    """Each local day (in tz) that [since, until) touches, with its answers' outcomes."""
    windows = _local_days(since, until, tz)
    return [
        _day_share(window.label.date(), rows)
        for window, rows in zip(windows, _sliced(reader, windows), strict=True)
    ]


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
    answered = sum(outcomes[outcome] for outcome in _ANSWERS)
    return DayShare(
        day=day,
        answered=answered,
        met=outcomes["met"],
        share_met=outcomes["met"] / answered if answered else None,
        breaches=outcomes["breached"],
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
