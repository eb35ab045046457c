"""The automatic start: a new project named by a rule gets its template, once.

A project created in Worksection whose tag or name a rule of
`templates.autostart` names is recorded here when pmdesk first sees it
(the webhook's or the event log's "project created", or the list of
projects), with its creation time and its start day; the services then
apply the template (bots.worksection.autostart) and record when the last
task was created with its owner: the time to a staffed project, which the
manager view shows. One row per project: seeing it again (twice by webhook,
once more by the poller) starts nothing. See docs/templates.md,
"Automatic start".
"""

from __future__ import annotations

import fnmatch
import hashlib
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.base.instants import as_date
from core.config.settings import AutostartRule, Settings
from core.notify.rules import PROJECT_STARTED, queue_assistant_notice
from core.store.db import write
from core.store.models.system import table
from core.store.models.templates import ProjectStart, TemplateRun
from core.store.reader import EngineReader, Reader, instant, required_instant
from core.tracker.templates_plan import business_days

STARTS, RUNS = table(ProjectStart), table(TemplateRun)


@dataclass(frozen=True)
class Start:
    """A project to start (or started): see core.store.models.templates.ProjectStart."""

    project_id: str
    project_name: str
    template: str
    created_at: datetime
    start_on: date
    staffed_at: datetime | None
    error: str | None
    updated_at: datetime

    @property
    def staffing_seconds(self) -> float | None:
        """From the project's creation to its last task created with its owner."""
        if self.staffed_at is None:
            return None
        return max(0.0, (self.staffed_at - self.created_at).total_seconds())


def rule_for(
    rules: Sequence[AutostartRule], name: str, tags: Iterable[str]
) -> AutostartRule | None:
    """The first rule naming the project by one of its tags or by its name (any case)."""
    folded = {tag.strip().casefold() for tag in tags if tag.strip()}
    for rule in rules:
        if rule.tag is not None and rule.tag.strip().casefold() in folded:
            return rule
        if rule.pattern is not None and fnmatch.fnmatchcase(
            name.strip().casefold(), rule.pattern.strip().casefold()
        ):
            return rule
    return None


def start_day(settings: Settings, rule: AutostartRule, created_at: datetime) -> date:
    """Day 0 of the template: the creation day in the templates' time zone, or the next
    business day after it (`start = "next_business_day"`)."""
    day = created_at.astimezone(ZoneInfo(settings.templates_timezone)).date()
    if rule.start == "next_business_day":
        return business_days(settings, day + timedelta(days=1)).day(0)
    return day


def note_project(
    engine: Engine,
    project_id: str,
    project_name: str,
    template: str,
    created_at: datetime,
    start_on: date,
    now: datetime,
) -> bool:
    """Record a project to start; False if it was seen before or a template was applied to
    it already (by hand): then nothing is started."""
    with write(engine) as connection:
        applied = connection.execute(
            select(RUNS.c.template).where(RUNS.c.project_id == project_id).limit(1)
        ).first()
        if applied is not None:
            return False
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        inserted = connection.execute(
            dialect.insert(STARTS)
            .values(
                project_id=project_id,
                project_name=project_name,
                template=template,
                created_at=created_at,
                seen_at=now,
                start_on=start_on,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["project_id"])
        ).rowcount
    return bool(inserted)


def _start(row: object) -> Start:
    values = row._mapping  # type: ignore[attr-defined]
    return Start(
        project_id=values["project_id"],
        project_name=values["project_name"],
        template=values["template"],
        created_at=values["created_at"],
        start_on=as_date(values["start_on"]),
        staffed_at=values["staffed_at"],
        error=values["error"],
        updated_at=values["updated_at"],
    )


def pending_starts(engine: Engine, now: datetime) -> list[Start]:
    """The projects still to staff and due (a problem waits its `retry_at`), oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(STARTS)
            .where(
                STARTS.c.staffed_at.is_(None),
                STARTS.c.retry_at.is_(None) | (STARTS.c.retry_at <= now),
            )
            .order_by(STARTS.c.created_at)
        ).all()
    return [_start(row) for row in rows]


def all_starts(engine: Engine) -> list[Start]:
    """Every project started by itself, the newest first."""
    return read_starts(EngineReader(engine))


_STARTS_SQL = (
    "SELECT project_id, project_name, template, created_at, start_on, staffed_at, error, "
    "updated_at FROM projectstart {where} ORDER BY created_at DESC, project_id"
)


def read_starts(reader: Reader, since: datetime | None = None) -> list[Start]:
    """The projects started by themselves (created at `since` or later), the newest first.

    Through a Reader, as the dashboard reads (the manager view's "time to a
    staffed project").
    """
    where, params = ("", {}) if since is None else ("WHERE created_at >= :since", {"since": since})
    return [
        Start(
            project_id=str(row[0]),
            project_name=str(row[1] or ""),
            template=str(row[2]),
            created_at=required_instant(row[3]),
            start_on=as_date(row[4]),
            staffed_at=instant(row[5]),
            error=row[6],
            updated_at=required_instant(row[7]),
        )
        for row in reader.rows(_STARTS_SQL.format(where=where), params)
    ]


def mark_staffed(engine: Engine, start: Start, now: datetime, body: str) -> None:
    """Every task is there with its owner: the time is taken and the assistant told."""
    with write(engine) as connection:
        connection.execute(
            update(STARTS)
            .where(STARTS.c.project_id == start.project_id, STARTS.c.staffed_at.is_(None))
            .values(staffed_at=now, error=None, retry_at=None, updated_at=now)
        )
        queue_assistant_notice(
            connection, PROJECT_STARTED, f"project-started:{start.project_id}", body, now
        )


def mark_stopped(
    engine: Engine,
    start: Start,
    error: str,
    now: datetime,
    retry_at: datetime | None = None,
    body: str | None = None,
) -> None:
    """The try stopped (`error`), to try again at `retry_at` (None: at the next turn); the
    assistant is told `body`, once per distinct problem."""
    with write(engine) as connection:
        connection.execute(
            update(STARTS)
            .where(STARTS.c.project_id == start.project_id)
            .values(error=error, retry_at=retry_at, updated_at=now)
        )
        if body is not None:
            digest = hashlib.sha256(error.encode()).hexdigest()[:16]
            key = f"project-stopped:{start.project_id}:{digest}"
            queue_assistant_notice(connection, PROJECT_STARTED, key, body, now)


def month_median(starts: Sequence[Start], month_of: datetime) -> float | None:
    """The median time to a staffed project (seconds) of the projects created that month."""
    seconds = [
        start.staffing_seconds
        for start in starts
        if start.staffing_seconds is not None
        and (start.created_at.year, start.created_at.month) == (month_of.year, month_of.month)
    ]
    return statistics.median(seconds) if seconds else None
