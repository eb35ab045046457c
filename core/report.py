"""The SLA report: how many answers came within target, and how fast.

A clock counts in a period when its answer (its stop) falls in the period.
Clocks closed as "no reply needed" are counted apart and left out of the
share met and the response times. Open clocks are those running now that
started before the end of the period; a running clock already past due is
a breach too, so a team cannot look good by not answering.

One query fetches the few numeric columns of the period's stopped clocks
and the statistics are computed here: SQLite has no percentile function,
and sorting a few hundred thousand floats in Python takes milliseconds.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from .reader import Reader, Row

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
