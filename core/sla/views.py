"""Clocks as people look at them: running, breached, a thread's history.

Built on core.store, so `pmdesk clocks` answers without importing the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.store.reader import Reader, Row, instant, required_instant

_VIEW = """
SELECT c.id, c.thread_id, t.title, t.url, cl.name,
       (SELECT min(s.name) FROM assignment a JOIN staff s ON s.id = a.staff_id
         WHERE a.thread_id = c.thread_id AND a.role = 'assignee'),
       c.kind, c.policy, c.started_at, c.due_at, c.warn_at, c.escalate_at,
       c.outcome, c.stopped_at, c.business_seconds, c.wall_seconds
  FROM clock c
  JOIN thread t ON t.id = c.thread_id
  LEFT JOIN client cl ON cl.id = t.client_id
"""


@dataclass(frozen=True)
class ClockView:
    """A clock with what a person needs to act on it."""

    id: int
    thread_id: int
    thread: str
    url: str | None
    client: str | None
    assignee: str | None
    kind: str
    policy: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime
    escalate_at: datetime
    outcome: str
    stopped_at: datetime | None
    business_seconds: float | None
    wall_seconds: float | None

    @classmethod
    def from_row(cls, row: Row) -> ClockView:
        (id_, thread_id, title, url, client, assignee, kind, policy) = row[:8]
        started, due, warn, escalate, outcome, stopped, business, wall = row[8:]
        return cls(
            id=id_,
            thread_id=thread_id,
            thread=title,
            url=url,
            client=client,
            assignee=assignee,
            kind=kind,
            policy=policy,
            started_at=required_instant(started),
            due_at=required_instant(due),
            warn_at=required_instant(warn),
            escalate_at=required_instant(escalate),
            outcome=outcome,
            stopped_at=instant(stopped),
            business_seconds=business,
            wall_seconds=wall,
        )

    def seconds_left(self, now: datetime) -> float:
        return (self.due_at - now).total_seconds()

    def state(self, now: datetime) -> str:
        """safe, warning, breached or escalated for a running clock; else its outcome."""
        if self.outcome != "running":
            return self.outcome
        if now >= self.escalate_at:
            return "escalated"
        if now > self.due_at:
            return "breached"
        if now >= self.warn_at:
            return "warning"
        return "safe"


def _views(reader: Reader, where: str, params: dict[str, object]) -> list[ClockView]:
    return [ClockView.from_row(row) for row in reader.rows(_VIEW + where, params)]


def running_clocks(reader: Reader, limit: int | None = None) -> list[ClockView]:
    """Running clocks, most urgent (earliest due) first."""
    where = " WHERE c.outcome = 'running' ORDER BY c.due_at, c.id"
    if limit is not None:
        where += f" LIMIT {int(limit)}"
    return _views(reader, where, {})


def breached_clocks(
    reader: Reader, now: datetime, since: datetime | None = None
) -> list[ClockView]:
    """Clocks that missed their target: stopped late, or running past due."""
    where = (
        " WHERE (c.outcome = 'breached' OR (c.outcome = 'running' AND c.due_at < :now))"
        " AND c.started_at >= :since ORDER BY c.due_at"
    )
    return _views(
        reader, where, {"now": now, "since": since or datetime.min.replace(tzinfo=now.tzinfo)}
    )


def thread_clocks(reader: Reader, thread_id: int) -> list[ClockView]:
    """A thread's clock history, oldest first."""
    where = " WHERE c.thread_id = :thread ORDER BY c.started_at, c.id"
    return _views(reader, where, {"thread": thread_id})
