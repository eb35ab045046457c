"""Each client's projects as the dashboard's Projects screen shows them.

The source is what pmdesk already holds of every task, read in one query:
the task's thread (its project and client, deadline and closed state, kept
by ingestion from the tracker's events), its assignees (pmdesk's own
assignment, kept in step with the tracker's owner), and, for a task a
template created, the template and phase from the record of applied tasks
(core.tracker.templates_record), joined through the thread's Worksection
id. No request to Worksection: the screen is as fresh as the connector's
last turn. See docs/templates.md, "The Projects screen".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from core.store.reader import Reader

# How many next deadlines a project shows.
NEXT_DEADLINES = 3

_TASKS_SQL = """
SELECT c.name, p.name, t.id, t.title, t.deadline, t.closed,
       (SELECT COUNT(*) FROM assignment a
         WHERE a.thread_id = t.id AND a.role = 'assignee') AS owners,
       tt.template, tt.phase
FROM thread t
JOIN project p ON p.id = t.project_id
LEFT JOIN client c ON c.id = p.client_id
LEFT JOIN threadref r ON r.thread_id = t.id AND r.source = 'worksection'
LEFT JOIN templatetask tt ON tt.task_id = r.external_id AND tt.state = 'created'
WHERE t.kind = 'task'
ORDER BY c.name, p.name, t.id
"""


@dataclass(frozen=True)
class ProjectTask:
    thread_id: int
    title: str
    deadline: date | None
    closed: bool
    owners: int
    phase: str | None

    def overdue(self, today: date) -> bool:
        return not self.closed and self.deadline is not None and self.deadline < today

    @property
    def no_owner(self) -> bool:
        return not self.closed and self.owners == 0


@dataclass
class ProjectLine:
    client: str
    project: str
    template: str | None = None
    tasks: list[ProjectTask] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(1 for task in self.tasks if task.closed)

    def phases(self) -> list[tuple[str, int, int]]:
        """(phase, done, all) in the order the phases first appear; template tasks only."""
        totals: dict[str, list[int]] = {}
        for task in self.tasks:
            if task.phase:
                counts = totals.setdefault(task.phase, [0, 0])
                counts[0] += task.closed
                counts[1] += 1
        return [(phase, done, every) for phase, (done, every) in totals.items()]

    def overdue(self, today: date) -> list[ProjectTask]:
        return [task for task in self.tasks if task.overdue(today)]

    def no_owner(self) -> list[ProjectTask]:
        return [task for task in self.tasks if task.no_owner]

    def next_deadlines(self, today: date) -> list[ProjectTask]:
        coming = [
            task
            for task in self.tasks
            if not task.closed and task.deadline is not None and task.deadline >= today
        ]
        return sorted(coming, key=lambda task: (task.deadline, task.thread_id))[:NEXT_DEADLINES]


def read_projects(reader: Reader) -> list[ProjectLine]:
    """Every project with tasks, by client then project."""
    lines: dict[tuple[str, str], ProjectLine] = {}
    templates: dict[tuple[str, str], Counter[str]] = {}
    for client, project, thread_id, title, deadline, closed, owners, template, phase in reader.rows(
        _TASKS_SQL
    ):
        key = (str(client or ""), str(project))
        line = lines.get(key)
        if line is None:
            line = lines[key] = ProjectLine(*key)
            templates[key] = Counter()
        if template:
            templates[key][str(template)] += 1
        line.tasks.append(
            ProjectTask(
                int(thread_id),
                str(title or ""),
                _day(deadline),
                bool(closed),
                int(owners),
                str(phase) if phase else None,
            )
        )
    for key, line in lines.items():
        common = templates[key].most_common(1)
        line.template = common[0][0] if common else None
    return list(lines.values())


def _day(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
