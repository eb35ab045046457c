"""What a client's progress report says, read from what pmdesk holds (docs/reports.md).

For one client and one period of local days, from the client's threads
(tracker tasks and chat groups) and their events up to the period's end:

- **done**: tasks whose last close or reopen before the period's end is a
  close inside the period; who did it is the task's owners (assignees), else
  whoever closed it; when is the day it was closed;
- **in progress**: tasks open at the period's end that work has started on:
  an event by the agency other than the task's creation, a deadline or an
  owner (a message, a note, a status, a checklist, a subtask, tags); with
  their owners and deadline, the nearest deadline first;
- **next**: tasks open at the period's end that no work has started on yet,
  the nearest deadline first (those without one last), at most NEXT_ITEMS;
- **awaiting the client**: open threads whose last public message before
  the period's end is the agency's and asks a question (holds a "?"): the
  agency asked and the client has not answered yet;
- **responsiveness**: the client's line of the SLA report for the period
  (core.sla.report: share of answers within target, median response time in
  business time), read the same way `pmdesk report sla` reads it.

A client with no thread at all, or with no event on any of its threads in
the period, has nothing to report: `ClientReport.nothing_to_report` says
which, and the renderers write that one sentence instead of a document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.base.kinds import AuthorRole, EventKind, ThreadKind
from core.conversations.chats import _match
from core.conversations.clients import UnknownClient
from core.reports.period import ReportPeriod
from core.sla.report import SlaLine, SlaReport, sla_report
from core.store.reader import Reader, required_instant

# How many tasks "next" lists; the rest are counted.
NEXT_ITEMS = 10

NO_PROJECTS = "no_projects"
NO_ACTIVITY = "no_activity"

# Events by the agency that show work has started on a task.
_PLANNING = frozenset(
    {EventKind.TASK_CREATED.value, EventKind.DEADLINE.value, EventKind.ASSIGNEE.value}
)
_CLOSED, _REOPENED = EventKind.TASK_CLOSED.value, EventKind.TASK_REOPENED.value
_MESSAGE = EventKind.MESSAGE.value
_STAFF, _CLIENT = AuthorRole.STAFF.value, AuthorRole.CLIENT.value

_CLIENTS = "SELECT name, id FROM client"
_LANGUAGE = "SELECT language FROM client WHERE id = :client"
_THREADS = """
SELECT t.id, t.kind, t.title, t.url, t.deadline, p.name
  FROM thread t LEFT JOIN project p ON p.id = t.project_id
 WHERE t.client_id = :client
 ORDER BY t.id
"""
_OWNERS = """
SELECT a.thread_id, s.name
  FROM assignment a
  JOIN staff s ON s.id = a.staff_id
  JOIN thread t ON t.id = a.thread_id
 WHERE t.client_id = :client AND a.role = 'assignee'
 ORDER BY s.name
"""
# The client's events up to the period's end, in each thread's order. The
# text itself is not read: only whether it asks a question.
_EVENTS = """
SELECT e.thread_id, e.kind, e.occurred_at, e.author_role, coalesce(s.name, e.author_name),
       e.internal, CASE WHEN e.text LIKE '%?%' THEN 1 ELSE 0 END
  FROM event e
  JOIN thread t ON t.id = e.thread_id
  LEFT JOIN staff s ON s.id = e.staff_id
 WHERE t.client_id = :client AND e.occurred_at < :until
 ORDER BY e.thread_id, e.occurred_at, e.id
"""
# Clients with at least one event in the period, for a run over every client.
_ACTIVE = """
SELECT DISTINCT c.name
  FROM client c
 WHERE EXISTS (SELECT 1 FROM thread t JOIN event e ON e.thread_id = t.id
                WHERE t.client_id = c.id AND e.occurred_at >= :since AND e.occurred_at < :until)
 ORDER BY c.name
"""


@dataclass(frozen=True)
class DoneTask:
    project: str | None
    title: str
    url: str | None
    by: list[str]
    on: date


@dataclass(frozen=True)
class OpenTask:
    project: str | None
    title: str
    url: str | None
    owners: list[str]
    deadline: date | None


@dataclass(frozen=True)
class Question:
    """A question of the agency the client has not answered yet."""

    thread: str
    url: str | None
    asked_by: str
    asked_on: date


@dataclass(frozen=True)
class Responsiveness:
    """How fast the agency answered the client in the period (core.sla.report)."""

    answered: int
    met: int
    share_met: float | None
    median_seconds: float | None

    @classmethod
    def of(cls, line: SlaLine | None) -> Responsiveness:
        if line is None:
            return cls(0, 0, None, None)
        return cls(line.answered, line.met, line.share_met, line.median_business_seconds)


@dataclass
class ClientReport:
    client: str
    language: str
    period: ReportPeriod
    done: list[DoneTask] = field(default_factory=list)
    in_progress: list[OpenTask] = field(default_factory=list)
    next: list[OpenTask] = field(default_factory=list)
    # Tasks not started beyond the NEXT_ITEMS listed in `next`.
    more_next: int = 0
    awaiting_client: list[Question] = field(default_factory=list)
    responsiveness: Responsiveness = field(default_factory=lambda: Responsiveness.of(None))
    # None, NO_PROJECTS or NO_ACTIVITY.
    nothing_to_report: str | None = None

    def as_dict(self) -> dict[str, Any]:
        def items(values: list[Any]) -> list[dict[str, Any]]:
            return [value.__dict__ for value in values]

        return {
            "client": self.client,
            "language": self.language,
            "first_day": self.period.first.isoformat(),
            "last_day": self.period.last.isoformat(),
            "nothing_to_report": self.nothing_to_report,
            "done": items(self.done),
            "in_progress": items(self.in_progress),
            "next": items(self.next),
            "more_next": self.more_next,
            "awaiting_client": items(self.awaiting_client),
            "responsiveness": self.responsiveness.__dict__,
        }


def find_client(reader: Reader, name: str) -> tuple[int, str]:
    """The client's id and name, named exactly or in any case.

    An unknown name raises UnknownClient with the closest known names.
    """
    names: dict[str, int] = {str(found): int(key) for found, key in reader.rows(_CLIENTS)}
    linked = _match(names, name)
    return linked.client_id, linked.name


def clients_with_activity(reader: Reader, period: ReportPeriod, zone: ZoneInfo) -> list[str]:
    """The clients with at least one event in the period, by name."""
    since, until = period.instants(zone)
    return [str(name) for (name,) in reader.rows(_ACTIVE, {"since": since, "until": until})]


def client_report(
    reader: Reader,
    client: str,
    period: ReportPeriod,
    zone: ZoneInfo,
    now: datetime,
    *,
    sla: SlaReport | None = None,
) -> ClientReport:
    """The client's report for the period (see the module's docstring).

    Refuses a period in the future (PeriodError) and an unknown client
    (UnknownClient). `sla`: the SLA report of the same period, when a run
    over many clients has read it once for all of them.
    """
    period.check_started(now.astimezone(zone).date())
    client_id, name = find_client(reader, client)
    ((language,),) = reader.rows(_LANGUAGE, {"client": client_id})
    report = ClientReport(name, str(language or "fr"), period)
    since, until = period.instants(zone)
    params = {"client": client_id, "until": until}
    threads = {int(row[0]): row for row in reader.rows(_THREADS, {"client": client_id})}
    if not threads:
        report.nothing_to_report = NO_PROJECTS
        return report
    owners: dict[int, list[str]] = {}
    for thread_id, owner in reader.rows(_OWNERS, {"client": client_id}):
        owners.setdefault(int(thread_id), []).append(str(owner))
    histories: dict[int, _History] = {}
    for row in reader.rows(_EVENTS, params):
        thread_id = int(row[0])
        history = histories.get(thread_id)
        if history is None:
            history = histories[thread_id] = _History()
        history.add(row, since)
    if not any(history.active for history in histories.values()):
        report.nothing_to_report = NO_ACTIVITY
        return report

    started: list[OpenTask] = []
    waiting: list[OpenTask] = []
    for thread_id, (_, kind, title, url, deadline, project) in threads.items():
        history = histories.get(thread_id)
        if history is None:  # nothing of it before the period's end
            continue
        title, url = str(title or ""), str(url) if url else None
        project = str(project) if project else None
        if history.question is not None and history.closed_at is None:
            asker, at = history.question
            report.awaiting_client.append(Question(title, url, asker, at.astimezone(zone).date()))
        if kind != ThreadKind.TASK.value:
            continue
        people = owners.get(thread_id, [])
        if history.closed_at is not None:
            if history.closed_at >= since:
                doers = people or ([history.closed_by] if history.closed_by else [])
                on = history.closed_at.astimezone(zone).date()
                report.done.append(DoneTask(project, title, url, doers, on))
            continue
        task = OpenTask(project, title, url, people, _day(deadline))
        (started if history.started else waiting).append(task)

    report.done.sort(key=lambda task: (task.on, task.project or "", task.title))
    report.in_progress = sorted(started, key=_by_deadline)
    waiting.sort(key=_by_deadline)
    report.next, report.more_next = waiting[:NEXT_ITEMS], max(0, len(waiting) - NEXT_ITEMS)
    report.awaiting_client.sort(key=lambda question: (question.asked_on, question.thread))
    if sla is None:
        sla = sla_report(reader, since, until, now)
    line = next((line for line in sla.by_client if line.name == name), None)
    report.responsiveness = Responsiveness.of(line)
    return report


class _History:
    """One thread's events up to the period's end, reduced to what the report needs."""

    __slots__ = ("active", "closed_at", "closed_by", "question", "started")

    def __init__(self) -> None:
        self.active = False
        self.started = False
        self.closed_at: datetime | None = None
        self.closed_by: str | None = None
        # (who, when) of the agency's last public message if it asks a question
        # and is the thread's last public message.
        self.question: tuple[str, datetime] | None = None

    def add(self, row: tuple[Any, ...], since: datetime) -> None:
        _, kind, occurred, role, author, internal, asks = row
        at = required_instant(occurred)
        if at >= since:
            self.active = True
        if role == _STAFF and kind not in _PLANNING:
            self.started = True
        if kind == _CLOSED:
            self.closed_at, self.closed_by = at, str(author) if author else None
        elif kind == _REOPENED:
            self.closed_at = self.closed_by = None
        elif kind == _MESSAGE and not internal:
            if role == _STAFF and asks:
                self.question = (str(author or ""), at)
            elif role in (_STAFF, _CLIENT):
                self.question = None


def _by_deadline(task: OpenTask) -> tuple[bool, date, str, str]:
    return (task.deadline is None, task.deadline or date.min, task.project or "", task.title)


def _day(value: object) -> date | None:
    """A thread's deadline as stored (an ISO date, or an instant's text), else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


__all__ = [
    "NEXT_ITEMS",
    "NO_ACTIVITY",
    "NO_PROJECTS",
    "ClientReport",
    "DoneTask",
    "OpenTask",
    "Question",
    "Responsiveness",
    "UnknownClient",
    "client_report",
    "clients_with_activity",
    "find_client",
]
