"""Applying a task template to a Worksection project: parents first, recorded as it goes.

Each task is created with `post_task` (a subtask with `id_parent`), its
owner's email, its dates, its checklist (`todo[]`), its tags and its
description, at the client's pace (about one request a second). Its row in
the record (core.tracker.templates_record) is written as `sending` before
the request and as `created`, with Worksection's id, as soon as the answer
is in, before the next task: applying again creates only what is missing,
and nothing on a project whose tasks are all there.

A crash or an outage between Worksection's answer and the record leaves a
`sending` row: the task may exist in Worksection without pmdesk knowing its
id. Such a task is looked up first (`search_tasks` among the project's
top-level tasks, or the parent's subtasks, by its exact title) and adopted
if found; only otherwise is it created again. The look-up costs a request,
and only for the few tasks in doubt.

What stops an item leaves the rest consistent: a refused call (Worksection's
message kept; tried again on the next run) skips that task's subtasks; a
parent task deleted in Worksection meanwhile is noticed when one of its
subtasks is refused (`get_task` then says it is gone): its row is set back
to refused so that the next run creates it again, and its subtasks wait for
it. An outage that outlasts the client's retries stops the run where it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import Engine, select

from bots.worksection.api import PACING_MARGIN, WorksectionClient, WorksectionError
from core.base.instants import Now
from core.config.settings import WorksectionConfig
from core.store.models.system import table
from core.store.models.templates import TemplateRun
from core.store.models.worksection import WorksectionTask
from core.tracker.templates import Template
from core.tracker.templates_plan import PlannedTask
from core.tracker.templates_record import (
    CREATED,
    SENDING,
    begin_run,
    finish_run,
    forget_subtree,
    mark_created,
    mark_refused,
    mark_sending,
    recorded,
)

log = logging.getLogger("pmdesk.worksection.templates")
TASKS_SEEN, RUNS = table(WorksectionTask), table(TemplateRun)

# What happened to a task in a run: created now, found in Worksection (a
# task in doubt adopted), kept (created before), refused, or skipped (its
# parent is missing); `waiting` is what an outage left untried.
Status = Literal["created", "found", "kept", "refused", "skipped", "waiting"]


class ProjectNotFound(LookupError):
    """No active project by that id or name; or (`ids`) several projects share the name."""

    def __init__(self, given: str, ids: Sequence[str] = ()) -> None:
        if ids:
            message = f"{len(ids)} projects are called {given!r} ({', '.join(ids)}): give the id"
        else:
            message = f"no active project {given!r} in Worksection"
        super().__init__(message)
        self.given = given
        self.ids = list(ids)


@dataclass(frozen=True)
class Project:
    id: str
    name: str


# Why a task was not created: Worksection refused it (its message is kept),
# its parent is missing (refused, or waiting), or its parent was deleted in
# Worksection (then `task_id` is the parent's former id).
REFUSED_BY_WORKSECTION = "refused"
PARENT_MISSING = "parent missing"
PARENT_DELETED = "parent deleted"


@dataclass(frozen=True)
class Outcome:
    task: PlannedTask
    status: Status
    task_id: str | None = None
    # Worksection's message, for a refusal or an outage.
    message: str | None = None
    reason: str | None = None


@dataclass
class ApplyReport:
    project: Project
    template: str
    outcomes: list[Outcome] = field(default_factory=list)
    # Why the run stopped before the end (an outage), or None.
    stopped: str | None = None

    def count(self, *statuses: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status in statuses)

    @property
    def finished(self) -> bool:
        return self.stopped is None and all(
            outcome.status in ("created", "found", "kept") for outcome in self.outcomes
        )

    @property
    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("refused", "skipped", "waiting")]


Progress = Callable[[int, int, Outcome], None]


def after_lookup(config: WorksectionConfig) -> float:
    """When the first request after the project's look-up may go (a `time.monotonic()`).

    A full interval after the look-up's answer, not its start: the look-up
    opened the connection, so it reached Worksection late by the
    connection's set-up, which pacing from the starts of requests does not
    see. Without this, the first task of every run of bench/templates.py
    was refused as too soon and sent again a second later.
    """
    return time.monotonic() + config.min_request_interval + PACING_MARGIN


async def find_project(client: WorksectionClient, given: str) -> Project:
    """The active project called `given` (its id or its exact name, any case)."""
    projects = await client.get_projects()
    wanted = given.strip()
    for item in projects:
        if str(item.get("id")) == wanted:
            return Project(wanted, str(item.get("name") or ""))
    named = [item for item in projects if str(item.get("name", "")).casefold() == wanted.casefold()]
    if len(named) == 1:
        return Project(str(named[0]["id"]), str(named[0].get("name") or ""))
    raise ProjectNotFound(given, [str(item["id"]) for item in named])


def known_project(engine: Engine, given: str) -> Project | None:
    """The project as pmdesk last saw it (by id or name), without asking Worksection.

    From the templates applied to it, else from the tasks the connector read.
    """
    wanted = given.strip()
    with engine.connect() as connection:
        rows = connection.execute(
            select(RUNS.c.project_id, RUNS.c.project_name).union(
                select(TASKS_SEEN.c.project_id, TASKS_SEEN.c.project_name).where(
                    TASKS_SEEN.c.project_id.is_not(None)
                )
            )
        ).all()
    for project_id, name in rows:
        if str(project_id) == wanted or (name or "").casefold() == wanted.casefold():
            return Project(str(project_id), name or "")
    return None


async def apply_template(
    client: WorksectionClient,
    engine: Engine,
    template: Template,
    planned: Sequence[PlannedTask],
    project: Project,
    start: date,
    clock: Now,
    progress: Progress | None = None,
    not_before: float | None = None,
) -> ApplyReport:
    """Create the planned tasks that are not in Worksection yet (see the module's docstring).

    The run is recorded (core.tracker.templates_record.begin_run) first:
    RunConflict if it was begun with another start date. `not_before`
    (`time.monotonic()`): no request before then (see `after_lookup`).
    """
    begin_run(engine, project.id, project.name, template.name, start, clock())
    report = ApplyReport(project, template.name)
    rows = recorded(engine, project.id, template.name)
    ids: dict[str, str] = {
        path: row.task_id for path, row in rows.items() if row.state == CREATED and row.task_id
    }
    # Tasks found deleted in Worksection in this run: path -> their former id.
    deleted: dict[str, str] = {}
    total = len(planned)

    def done(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        if progress is not None:
            progress(len(report.outcomes), total, outcome)

    for index, task in enumerate(planned):
        path = task.path
        if path in ids:
            done(Outcome(task, "kept", ids[path]))
            continue
        if not_before is not None:
            await asyncio.sleep(max(0.0, not_before - time.monotonic()))
            not_before = None
        parent_id: str | None = None
        if task.parent is not None:
            parent_id = ids.get(task.parent)
            if parent_id is None:
                if task.parent in deleted:
                    gone = Outcome(task, "skipped", deleted[task.parent], reason=PARENT_DELETED)
                    done(gone)
                else:
                    done(Outcome(task, "skipped", reason=PARENT_MISSING))
                continue
        try:
            outcome = await _create(
                client, engine, project, template.name, task, parent_id, rows, clock
            )
        except WorksectionError as error:
            # Unreachable past the client's retries: stop here, the task in doubt.
            report.stopped = error.message
            for rest in planned[index:]:
                report.outcomes.append(Outcome(rest, "waiting", message=error.message))
            return report
        if outcome.status in ("created", "found") and outcome.task_id:
            ids[path] = outcome.task_id
        elif (
            outcome.status == "refused"
            and parent_id is not None
            and task.parent is not None
            and await _gone(client, parent_id)
        ):
            forget_subtree(engine, project.id, template.name, task.parent, PARENT_DELETED, clock())
            deleted[task.parent] = parent_id
            ids.pop(task.parent, None)
            outcome = Outcome(task, "refused", reason=PARENT_DELETED, task_id=parent_id)
        done(outcome)
    if report.finished:
        finish_run(engine, project.id, template.name, clock())
    return report


async def _create(
    client: WorksectionClient,
    engine: Engine,
    project: Project,
    template: str,
    task: PlannedTask,
    parent_id: str | None,
    rows: dict[str, Any],
    clock: Now,
) -> Outcome:
    """One task: adopted if it was in doubt and is there, else created; recorded either way."""
    row = rows.get(task.path)
    if row is not None and row.state == SENDING:
        try:
            found = await _find_in_worksection(client, project.id, parent_id, task.spec.title)
        except WorksectionError as error:
            if error.transient:
                raise
            return Outcome(task, "refused", message=error.message, reason=REFUSED_BY_WORKSECTION)
        if found is not None:
            mark_created(engine, project.id, template, task.path, found, clock())
            log.info("task %r was already in Worksection (#%s): adopted", task.spec.title, found)
            return Outcome(task, "found", found)
    mark_sending(engine, project.id, template, task, clock())
    try:
        created = await client.post_task(
            project.id,
            task.spec.title,
            parent_id=parent_id,
            email_user_to=task.owner.email if task.owner else None,
            text=task.spec.text.strip() or None,
            todo=task.spec.checklist,
            datestart=task.start,
            dateend=task.deadline,
            tags=task.spec.tags,
        )
    except WorksectionError as error:
        if error.transient:
            raise  # in doubt: the row stays `sending`
        mark_refused(engine, project.id, template, task.path, error.message, clock())
        return Outcome(task, "refused", message=error.message, reason=REFUSED_BY_WORKSECTION)
    mark_created(engine, project.id, template, task.path, created.id, clock())
    return Outcome(task, "created", created.id)


async def _find_in_worksection(
    client: WorksectionClient, project_id: str, parent_id: str | None, title: str
) -> str | None:
    """The id of the task called `title` under `parent_id` (or at the project's top), if any."""
    if parent_id is not None:
        tasks = await client.search_tasks(project_id=project_id, filter=f"parent={parent_id}")
    else:
        tasks = [
            item
            for item in await client.search_tasks(project_id=project_id)
            if not item.get("parent")
        ]
    for item in tasks:
        if item.get("name") == title and item.get("id") is not None:
            return str(item["id"])
    return None


async def _gone(client: WorksectionClient, task_id: str) -> bool:
    """Whether Worksection no longer has the task `task_id` (deleted since it was created)."""
    try:
        await client.get_task(task_id)
    except WorksectionError as error:
        return not error.transient
    return False
