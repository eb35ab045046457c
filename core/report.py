"""The SLA report: how many answers came within target, and how fast.

A clock counts in a period when its answer (its stop) falls in the period.
Clocks closed as "no reply needed" are counted apart and left out of the
share met and the response times. Open clocks are those running now that
started before the end of the period; a running clock already past due is
a breach too, so a team cannot look good by not answering.

One query fetches the few numeric columns of the period's clocks and the
statistics are computed here: SQLite has no percentile function, and
sorting a few hundred thousand floats in Python takes milliseconds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from .models import Client, Clock, Outcome, Staff, Thread, table

UNASSIGNED = "(nobody)"
NO_CLIENT = "(no client)"


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) of sorted values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
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
    _business: list[float] = field(default_factory=list, repr=False)
    _wall: list[float] = field(default_factory=list, repr=False)

    @property
    def breaches(self) -> int:
        return self.breached + self.open_breached

    def count_stopped(self, outcome: str, business: float | None, wall: float | None) -> None:
        if outcome == Outcome.NO_REPLY_NEEDED:
            self.no_reply_needed += 1
            return
        self.answered += 1
        if outcome == Outcome.MET:
            self.met += 1
        else:
            self.breached += 1
        self._business.append(business or 0.0)
        self._wall.append(wall or 0.0)

    def count_open(self, late: bool) -> None:
        self.open += 1
        self.open_breached += late

    def finish(self) -> SlaLine:
        self.share_met = self.met / self.answered if self.answered else None
        self._business.sort()
        self._wall.sort()
        self.median_business_seconds = percentile(self._business, 0.5)
        self.p90_business_seconds = percentile(self._business, 0.9)
        self.median_wall_seconds = percentile(self._wall, 0.5)
        self.p90_wall_seconds = percentile(self._wall, 0.9)
        return self

    def as_dict(self) -> dict[str, Any]:
        values = {key: value for key, value in self.__dict__.items() if not key.startswith("_")}
        values["breaches"] = self.breaches
        return values


@dataclass
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


def sla_report(engine: Engine, since: datetime, until: datetime, now: datetime) -> SlaReport:
    clock, thread = table(Clock), table(Thread)
    staff, client = table(Staff), table(Client)
    columns = (
        clock.c.outcome,
        clock.c.business_seconds,
        clock.c.wall_seconds,
        clock.c.stopped_by_staff,
        thread.c.client_id,
    )
    joined = clock.join(thread, thread.c.id == clock.c.thread_id)
    stopped_query = (
        select(*columns)
        .select_from(joined)
        .where(clock.c.stopped_at >= since, clock.c.stopped_at < until)
    )
    open_query = (
        select(clock.c.due_at, thread.c.client_id)
        .select_from(joined)
        .where(clock.c.outcome == Outcome.RUNNING.value, clock.c.started_at < until)
    )
    with engine.connect() as connection:
        stopped = connection.execute(stopped_query).all()
        running = connection.execute(open_query).all()
        staff_names = _names(connection.execute(select(staff.c.id, staff.c.name)))
        client_names = _names(connection.execute(select(client.c.id, client.c.name)))

    overall = SlaLine("everyone")
    by_staff: dict[int | None, SlaLine] = defaultdict(lambda: SlaLine(""))
    by_client: dict[int | None, SlaLine] = defaultdict(lambda: SlaLine(""))
    for outcome, business, wall, staff_id, client_id in stopped:
        for line in (overall, by_staff[staff_id], by_client[client_id]):
            line.count_stopped(outcome, business, wall)
    for due_at, client_id in running:
        late = due_at < now
        overall.count_open(late)
        by_client[client_id].count_open(late)
    return SlaReport(
        since=since,
        until=until,
        overall=overall.finish(),
        by_staff=_named(by_staff, staff_names, UNASSIGNED),
        by_client=_named(by_client, client_names, NO_CLIENT),
    )


def _names(rows: Iterable[Any]) -> dict[int, str]:
    return {row[0]: row[1] for row in rows}


def _named(lines: dict[int | None, SlaLine], names: dict[int, str], missing: str) -> list[SlaLine]:
    for key, line in lines.items():
        line.name = names.get(key, missing) if key is not None else missing
        line.finish()
    return sorted(lines.values(), key=lambda line: (-line.answered - line.open, line.name))
