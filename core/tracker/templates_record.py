"""What applying a template to a project created: recorded task by task, so it resumes.

A run is keyed by project and template; each task by its path in the
template. The applier writes a task's row as `sending` before it asks
Worksection, and as `created` with Worksection's id once the answer is in,
before it moves on: applying again skips what is `created`, retries what
was `refused`, and looks up what was left `sending` (the answer may have
been lost) before creating it again. See docs/templates.md, "Resuming".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, insert, select, update

from core.base.i18n import _
from core.base.instants import as_date
from core.store.db import write
from core.store.models.system import table
from core.store.models.templates import TemplateRun, TemplateTask
from core.tracker.templates_plan import PlannedTask

RUNS, TASKS = table(TemplateRun), table(TemplateTask)
SENDING, CREATED, REFUSED = "sending", "created", "refused"


class RunConflict(ValueError):
    """Applying again with another start date than the run begun."""


@dataclass(frozen=True)
class Recorded:
    path: str
    state: str
    task_id: str | None
    error: str | None


def begin_run(
    engine: Engine,
    project_id: str,
    project_name: str,
    template: str,
    start_on: date,
    now: datetime,
) -> bool:
    """Record that the template is applied to the project from `start_on`; True if it is new.

    A run already begun keeps its start: another one is refused (RunConflict),
    since the dates of the tasks created already would not match the others.
    """
    with write(engine) as connection:
        found = connection.execute(
            select(RUNS.c.start_on).where(
                RUNS.c.project_id == project_id, RUNS.c.template == template
            )
        ).first()
        if found is not None:
            begun = as_date(found[0])
            if begun != start_on:
                raise RunConflict(
                    _(
                        "{template} was applied to this project with the start {begun}: "
                        "apply it again with --start {begun}"
                    ).format(template=template, begun=begun.isoformat())
                )
            return False
        connection.execute(
            insert(RUNS).values(
                project_id=project_id,
                template=template,
                project_name=project_name,
                start_on=start_on,
                started_at=now,
            )
        )
    return True


def recorded(engine: Engine, project_id: str, template: str) -> dict[str, Recorded]:
    """The rows of the template's tasks on the project, by path."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(TASKS.c.path, TASKS.c.state, TASKS.c.task_id, TASKS.c.error).where(
                TASKS.c.project_id == project_id, TASKS.c.template == template
            )
        ).all()
    return {row[0]: Recorded(row[0], row[1], row[2], row[3]) for row in rows}


def mark_sending(
    engine: Engine, project_id: str, template: str, task: PlannedTask, now: datetime
) -> None:
    """The task is about to be asked of Worksection (a row in doubt until its answer)."""
    values = {
        "parent_path": task.parent,
        "title": task.spec.title,
        "phase": task.spec.phase,
        "role": task.spec.role,
        "owner_email": task.owner.email if task.owner else None,
        "date_start": task.start,
        "date_end": task.deadline,
        "state": SENDING,
        "task_id": None,
        "error": None,
        "updated_at": now,
    }
    key = (
        TASKS.c.project_id == project_id,
        TASKS.c.template == template,
        TASKS.c.path == task.path,
    )
    with write(engine) as connection:
        changed = connection.execute(update(TASKS).where(*key).values(**values)).rowcount
        if not changed:
            connection.execute(
                insert(TASKS).values(
                    project_id=project_id, template=template, path=task.path, **values
                )
            )


def mark_created(
    engine: Engine, project_id: str, template: str, path: str, task_id: str, now: datetime
) -> None:
    _settle(engine, project_id, template, path, now, state=CREATED, task_id=task_id, error=None)


def mark_refused(
    engine: Engine, project_id: str, template: str, path: str, error: str, now: datetime
) -> None:
    _settle(engine, project_id, template, path, now, state=REFUSED, task_id=None, error=error)


def forget_subtree(
    engine: Engine, project_id: str, template: str, path: str, error: str, now: datetime
) -> None:
    """A task gone from Worksection (deleted there), and its subtasks with it: to create again."""
    with write(engine) as connection:
        connection.execute(
            update(TASKS)
            .where(
                TASKS.c.project_id == project_id,
                TASKS.c.template == template,
                (TASKS.c.path == path) | (TASKS.c.parent_path == path),
            )
            .values(state=REFUSED, task_id=None, error=error, updated_at=now)
        )


def _settle(
    engine: Engine, project_id: str, template: str, path: str, now: datetime, **values: object
) -> None:
    with write(engine) as connection:
        connection.execute(
            update(TASKS)
            .where(
                TASKS.c.project_id == project_id,
                TASKS.c.template == template,
                TASKS.c.path == path,
            )
            .values(updated_at=now, **values)
        )


def finish_run(engine: Engine, project_id: str, template: str, now: datetime) -> None:
    """Every task is created: the run is done (the first time only)."""
    with write(engine) as connection:
        connection.execute(
            update(RUNS)
            .where(
                RUNS.c.project_id == project_id,
                RUNS.c.template == template,
                RUNS.c.finished_at.is_(None),
            )
            .values(finished_at=now)
        )
