"""A thread as the thread view shows it: its conversation, people, clocks and replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.sla.views import ClockView, thread_clocks
from core.store.reader import Reader, required_instant

THREAD_EVENTS = 500  # the newest events shown; a thread longer than that is rare and old

_THREAD = """
SELECT t.id, t.title, t.url, t.kind, t.channel, cl.name, p.name, t.status, t.deadline, t.closed
  FROM thread t
  LEFT JOIN client cl ON cl.id = t.client_id
  LEFT JOIN project p ON p.id = t.project_id
 WHERE t.id = :thread
"""

_EVENTS = """
SELECT e.id, e.occurred_at, e.kind, e.author_name, e.author_role, e.text, e.internal,
       e.triage,
       CASE WHEN e.kind = 'assignee' AND e.value != ''
            THEN (SELECT s.name FROM staff s WHERE s.id = CAST(e.value AS INTEGER))
            ELSE e.value END,
       d.status, d.error
  FROM event e
  LEFT JOIN delivery d ON d.event_id = e.id
 WHERE e.thread_id = :thread
 ORDER BY e.occurred_at DESC, e.id DESC
 LIMIT :limit
"""

_PEOPLE = """
SELECT a.role, s.id, s.name FROM assignment a JOIN staff s ON s.id = a.staff_id
 WHERE a.thread_id = :thread ORDER BY a.since, s.name
"""


@dataclass(frozen=True)
class ThreadEvent:
    id: int
    occurred_at: datetime
    kind: str
    author: str | None
    author_role: str
    text: str
    internal: bool
    triage: str
    # The new status or deadline, or the new assignee's name.
    value: str | None
    # For a reply written in pmdesk: pending, delivered or failed, and why it failed.
    delivery: str | None
    delivery_error: str | None


@dataclass(frozen=True)
class ThreadDetail:
    id: int
    title: str
    url: str | None
    kind: str
    channel: str
    client: str | None
    project: str | None
    status: str | None
    deadline: str | None
    closed: bool
    assignees: list[str]
    watchers: list[str]
    events: list[ThreadEvent]  # oldest first
    clocks: list[ClockView]  # oldest first
    # The same people by staff id, for pickers that mark who is there already.
    assignee_ids: tuple[int, ...] = ()
    watcher_ids: tuple[int, ...] = ()

    @property
    def running_clock(self) -> ClockView | None:
        return next((clock for clock in self.clocks if clock.outcome == "running"), None)

    @property
    def unread_ids(self) -> list[int]:
        return [event.id for event in self.events if event.triage == "new"]


def thread_detail(
    reader: Reader, thread_id: int, limit: int = THREAD_EVENTS
) -> ThreadDetail | None:
    found = reader.rows(_THREAD, {"thread": thread_id})
    if not found:
        return None
    (id_, title, url, kind, channel, client, project, status, deadline, closed) = found[0]
    people = thread_people(reader, thread_id)
    return ThreadDetail(
        id=id_,
        title=title,
        url=url,
        kind=kind,
        channel=channel,
        client=client,
        project=project,
        status=status,
        deadline=deadline,
        closed=bool(closed),
        assignees=[name for role, _, name in people if role == "assignee"],
        watchers=[name for role, _, name in people if role == "watcher"],
        events=_events(reader, thread_id, limit),
        clocks=thread_clocks(reader, thread_id),
        assignee_ids=tuple(staff for role, staff, _ in people if role == "assignee"),
        watcher_ids=tuple(staff for role, staff, _ in people if role == "watcher"),
    )


def thread_people(reader: Reader, thread_id: int) -> list[tuple[str, int, str]]:
    """(role, staff id, name) of the thread's assignee and watchers, the earliest first."""
    return [
        (role, staff_id, name)
        for role, staff_id, name in reader.rows(_PEOPLE, {"thread": thread_id})
    ]


def _events(reader: Reader, thread_id: int, limit: int) -> list[ThreadEvent]:
    rows = reader.rows(_EVENTS, {"thread": thread_id, "limit": limit})
    events = []
    for row in reversed(rows):  # the newest were taken; shown oldest first
        events.append(
            ThreadEvent(
                id=row[0],
                occurred_at=required_instant(row[1]),
                kind=row[2],
                author=row[3],
                author_role=row[4],
                text=row[5],
                internal=bool(row[6]),
                triage=row[7],
                value=row[8],
                delivery=row[9],
                delivery_error=row[10],
            )
        )
    return events
