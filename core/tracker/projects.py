"""Each client's projects as the dashboard's Projects screen shows them.

The source is what pmdesk already holds of every task: the task's thread
(its project and client, deadline and closed state, kept by ingestion from
the tracker's events), whether it has an assignee (pmdesk's own assignment,
kept in step with the tracker's owner), and, for a task a template created,
the template and phase from the record of applied tasks
(core.tracker.templates_record), matched through the thread's Worksection
id. Three queries (the tasks, the projects, the template records) put
together here: joining the projects and the template records to every task
in SQL and sorting there took longer than the dictionaries below. No
request to Worksection: the screen is as fresh as the connector's last turn.
See docs/templates.md, "The Projects screen".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from core.base.i18n import N_
from core.store.reader import Reader

# How many next deadlines a project shows.
NEXT_DEADLINES = 3
# Why a task is one to look at (msgids: the screen translates them).
OVERDUE, NO_OWNER, NEXT_DEADLINE = N_("overdue"), N_("no owner"), N_("next deadline")

# Every task with a project, in thread order, and whether it has an assignee.
_TASKS_SQL = """
SELECT t.project_id, t.id, t.title, t.deadline, t.closed,
       EXISTS (SELECT 1 FROM assignment a
                WHERE a.thread_id = t.id AND a.role = 'assignee') AS owned,
       r.external_id
FROM thread t
LEFT JOIN threadref r ON r.thread_id = t.id AND r.source = 'worksection'
WHERE t.kind = 'task' AND t.project_id IS NOT NULL
ORDER BY t.id
"""
_PROJECTS_SQL = """
SELECT p.id, c.name, p.name FROM project p LEFT JOIN client c ON c.id = p.client_id
"""
_TEMPLATE_TASKS_SQL = """
SELECT task_id, template, phase FROM templatetask
WHERE state = 'created' AND task_id IS NOT NULL
"""


class ProjectTask(NamedTuple):
    """A task of a project (a tuple: 20,000 of them are made for the screen)."""

    thread_id: int
    title: str
    deadline: date | None
    closed: bool
    owners: int  # 1 with an assignee, else 0
    phase: str | None

    def overdue(self, today: date) -> bool:
        return not self.closed and self.deadline is not None and self.deadline < today

    @property
    def no_owner(self) -> bool:
        return not self.closed and self.owners == 0


class ProjectSummary(NamedTuple):
    """A project's figures for its line on the screen."""

    done: int
    tasks: int
    phases: list[tuple[str, int, int]]
    overdue: int
    no_owner: int
    next_deadline: date | None


@dataclass
class ProjectLine:
    client: str
    project: str
    template: str | None = None
    tasks: list[ProjectTask] = field(default_factory=list)

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

    def summary(self, today: date) -> ProjectSummary:
        """The tasks closed and all; per phase (template tasks only, in the order
        the phases first appear) the closed and all; how many are overdue and
        without an owner; the next deadline. One pass over the tasks."""
        done = overdue = no_owner = 0
        coming: date | None = None
        totals: dict[str, list[int]] = {}
        for task in self.tasks:
            if task.phase:
                counts = totals.setdefault(task.phase, [0, 0])
                counts[0] += task.closed
                counts[1] += 1
            if task.closed:
                done += 1
                continue
            if not task.owners:
                no_owner += 1
            deadline = task.deadline
            if deadline is not None:
                if deadline < today:
                    overdue += 1
                elif coming is None or deadline < coming:
                    coming = deadline
        phases = [(phase, closed, every) for phase, (closed, every) in totals.items()]
        return ProjectSummary(done, len(self.tasks), phases, overdue, no_owner, coming)

    def to_look_at(self, today: date) -> list[tuple[ProjectTask, list[str]]]:
        """The tasks to look at, each once with its reasons (OVERDUE, NO_OWNER,
        NEXT_DEADLINE): the overdue first, then those without an owner, then the
        next deadlines."""
        reasons: dict[int, list[str]] = {}
        order: list[ProjectTask] = []
        for why, tasks in (
            (OVERDUE, self.overdue(today)),
            (NO_OWNER, self.no_owner()),
            (NEXT_DEADLINE, self.next_deadlines(today)),
        ):
            for task in tasks:
                if task.thread_id not in reasons:
                    reasons[task.thread_id] = []
                    order.append(task)
                reasons[task.thread_id].append(why)
        return [(task, reasons[task.thread_id]) for task in order]


def read_projects(reader: Reader) -> list[ProjectLine]:
    """Every project with tasks, by client then project."""
    projects = {
        project_id: (str(client or ""), str(name))
        for project_id, client, name in reader.rows(_PROJECTS_SQL)
    }
    made = {
        str(task_id): (str(template), str(phase) if phase else None)
        for task_id, template, phase in reader.rows(_TEMPLATE_TASKS_SQL)
    }
    lines: dict[object, ProjectLine] = {}
    templates: dict[object, Counter[str]] = {}
    days: dict[object, date | None] = {}  # each deadline's text parsed once
    for project_id, thread_id, title, deadline, closed, owned, external_id in reader.rows(
        _TASKS_SQL
    ):
        line = lines.get(project_id)
        if line is None:
            named = projects.get(project_id)
            if named is None:  # a project removed while being read
                continue
            line = lines[project_id] = ProjectLine(*named)
            templates[project_id] = Counter()
        phase = None
        if external_id is not None:
            found = made.get(str(external_id))
            if found is not None:
                templates[project_id][found[0]] += 1
                phase = found[1]
        if deadline in days:
            day = days[deadline]
        else:
            day = days[deadline] = _day(deadline)
        line.tasks.append(
            ProjectTask(int(thread_id), str(title or ""), day, bool(closed), int(owned), phase)
        )
    for project_id, line in lines.items():
        common = templates[project_id].most_common(1)
        line.template = common[0][0] if common else None
    return sorted(lines.values(), key=lambda line: (line.client, line.project))


def _day(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
