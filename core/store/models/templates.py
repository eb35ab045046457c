"""The tables of task templates: project teams, and what applying a template created.

See core.tracker.teams and core.tracker.templates_record (docs/templates.md).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel


class ProjectTeam(SQLModel, table=True):
    """Who holds a role on a project (`pmdesk projects team`), over the configuration's team.

    `project` is the project's Worksection id or name as it was given,
    folded to lower case.
    """

    project: str = Field(primary_key=True)
    role: str = Field(primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    updated_at: datetime


class TemplateRun(SQLModel, table=True):
    """A template applied (or being applied) to a Worksection project."""

    project_id: str = Field(primary_key=True)
    template: str = Field(primary_key=True)
    project_name: str = ""
    # The project's start, day 0 of the template's days: a resume keeps it.
    start_on: date
    started_at: datetime
    # When the last task was created; None while some are missing.
    finished_at: datetime | None = None


class TemplateTask(SQLModel, table=True):
    """One task of a template applied to a project: recorded before the run moves on.

    `path` is the task's titles from the top of the template down (JSON).
    A row is written as `sending` before Worksection is asked, and becomes
    `created` with Worksection's id once the answer is in: a `sending` row
    left behind (a crash, an outage) is looked up in Worksection before the
    task is created again. `refused` keeps Worksection's message.
    """

    project_id: str = Field(primary_key=True)
    template: str = Field(primary_key=True)
    path: str = Field(sa_column=Column(Text, primary_key=True))
    parent_path: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    title: str
    phase: str
    role: str
    owner_email: str | None = None
    date_start: date
    date_end: date
    # sending, created or refused.
    state: str = "sending"
    task_id: str | None = None
    error: str | None = None
    updated_at: datetime


class ProjectStart(SQLModel, table=True):
    """A new Worksection project whose template is applied by itself (the automatic start).

    One row per project, written when the project is first seen (webhook,
    event log or the list of projects) with a tag or name the configuration
    maps to a template: a project is never started twice. `staffed_at` is
    when its last task was created with its owner; None while some are
    missing. See core.tracker.autostart (docs/templates.md, "Automatic start").
    """

    project_id: str = Field(primary_key=True)
    project_name: str = ""
    template: str
    # When Worksection says the project was created (else when pmdesk first saw it).
    created_at: datetime
    seen_at: datetime
    # Day 0 of the template's days.
    start_on: date
    staffed_at: datetime | None = None
    # Why the last try stopped (a role nobody holds, a refusal, an outage), or None.
    error: str | None = None
    # Not tried again before then (a problem to fix); None: at the next turn.
    retry_at: datetime | None = None
    updated_at: datetime
