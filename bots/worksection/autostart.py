"""The automatic start in the connector: new projects seen, their templates applied.

How a new project is seen, by three roads that may all bring it:

- a "project created" item (`action` post, `object.type` project), from the
  webhook or the event log, before the items are mapped;
- the list of projects the tag sweep reads (`get_projects`): a project is new
  there when Worksection's `date_added` is at most `templates.autostart_within_hours`
  old (hours; without it the first sweep would start every matching project of the
  account).

Each is matched against `templates.autostart` (core.tracker.autostart.rule_for)
and recorded once per project. Then, at every turn of the connector, the
projects still to staff get their template applied with the connector's own
client (its pacing holds for every call): the same resumable apply as
`pmdesk templates apply` (bots.worksection.templates). An outage stops it
where it is, and the next turn resumes; a role nobody holds or a refused
task tells the assistant and waits `AUTOSTART_RETRY` before the next try.

Assumptions where Worksection's documentation is silent: a project's tags
are its `tags` field (a list of names, a mapping id -> name, or names
comma-separated) when an answer or an item carries it; its creation time is
`date_added` (`YYYY-MM-DD HH:MM`, the account's time zone), else the time
pmdesk first saw it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bots.worksection.api import WorksectionClient
from bots.worksection.templates import Project, apply_template
from core.base.instants import Now
from core.config.settings import Settings
from core.tracker.autostart import (
    Start,
    mark_staffed,
    mark_stopped,
    note_project,
    pending_starts,
    rule_for,
    start_day,
)
from core.tracker.teams import TeamError, missing_roles, owner, project_keys, project_team
from core.tracker.templates import (
    TemplateError,
    UnknownTemplate,
    find_template,
    load_template,
    vocabulary,
)
from core.tracker.templates_plan import business_days, plan, roles_used
from core.tracker.templates_record import RunConflict

log = logging.getLogger("pmdesk.worksection.autostart")
# How long a start stopped on a problem (not an outage) waits before it is tried again.
AUTOSTART_RETRY = timedelta(minutes=15)


def created_items(items: Iterable[Any]) -> list[dict[str, Any]]:
    """The projects that `items` (webhook or event log) say were created, as projects."""
    found: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping) or item.get("action") != "post":
            continue
        obj = item.get("object")
        if not isinstance(obj, Mapping) or obj.get("type") != "project":
            continue
        given = item.get("new")
        new: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        project_id = obj.get("id") or _project_of_page(obj.get("page"))
        if project_id is None:
            continue
        found.append(
            {
                "id": str(project_id),
                "name": new.get("name") or obj.get("name") or "",
                "tags": new.get("tags"),
                "date_added": item.get("date_added"),
                "created": True,
            }
        )
    return found


def note_projects(
    engine: Engine,
    settings: Settings,
    projects: Sequence[Mapping[str, Any]],
    now: datetime,
) -> int:
    """Record the projects a rule names (see the module's docstring); how many are new."""
    rules = settings.templates.autostart
    if not rules or settings.worksection is None:
        return 0
    zone = ZoneInfo(settings.worksection.timezone)
    noted = 0
    for project in projects:
        if project.get("id") is None:
            continue
        name = str(project.get("name") or "")
        rule = rule_for(rules, name, _tags(project.get("tags")))
        if rule is None:
            continue
        created = _local_time(project.get("date_added"), zone)
        within = settings.templates.autostart_within_hours * 3600
        if not project.get("created") and (
            created is None or (now - created).total_seconds() > within
        ):
            continue  # an old project in the list, not a new one
        created = created if created is not None and created <= now else now
        day0 = start_day(settings, rule, created)
        if note_project(engine, str(project["id"]), name, rule.template, created, day0, now):
            log.info("new project %s %r: %s from %s", project["id"], name, rule.template, day0)
            noted += 1
    return noted


async def start_projects(
    engine: Engine, settings: Settings, client: WorksectionClient, clock: Now
) -> int:
    """Apply the templates of the projects still to staff; returns how many are staffed now.

    An outage (a WorksectionError past the client's retries) stops the run
    where it is and leaves the rest to the next turn.
    """
    staffed = 0
    starts = await asyncio.to_thread(pending_starts, engine, clock())
    for start in starts:
        if await _start_one(engine, settings, client, clock, start):
            staffed += 1
    return staffed


async def _start_one(
    engine: Engine, settings: Settings, client: WorksectionClient, clock: Now, start: Start
) -> bool:
    where = f"{start.project_name} (#{start.project_id})"
    try:
        path = find_template(start.template, settings.templates.folder)
        template = load_template(path, vocabulary(settings.templates))
        team = _team(engine, settings, start)
    except (UnknownTemplate, TemplateError, TeamError) as error:
        reason = str(error)
        _problem(engine, start, reason, clock(), f"New project {where}: not started: {reason}")
        return False
    missing = missing_roles(team, roles_used(template))
    if missing:
        reason = f"nobody holds {', '.join(missing)} on the project"
        body = (
            f"New project {where}: template {template.name} not applied: {reason} "
            f"(pmdesk projects team {start.project_id} "
            + " ".join(f"{role}=NAME" for role in missing)
            + ")"
        )
        _problem(engine, start, reason, clock(), body)
        return False
    planned = plan(template, business_days(settings, start.start_on), team)
    try:
        report = await apply_template(
            client,
            engine,
            template,
            planned,
            Project(start.project_id, start.project_name),
            start.start_on,
            clock,
        )
    except RunConflict as error:
        _problem(engine, start, str(error), clock(), f"New project {where}: {error}")
        return False
    if report.stopped is not None:
        # Worksection unreachable: no message, the next turn resumes.
        mark_stopped(engine, start, f"Worksection unreachable: {report.stopped}", clock())
        log.warning("automatic start of %s stopped: %s", where, report.stopped)
        return False
    if not report.finished:
        problems = report.problems
        first = problems[0]
        reason = (
            f"{len(problems)} of {len(report.outcomes)} tasks not created "
            f"({first.task.spec.title}: {first.message or first.reason})"
        )
        _problem(engine, start, reason, clock(), f"New project {where}: {reason}")
        return False
    now = clock()
    minutes = max(0.0, (now - start.created_at).total_seconds()) / 60
    owners = sorted({o.task.owner.name for o in report.outcomes if o.task.owner is not None})
    body = (
        f"New project {where}: template {template.title} applied from "
        f"{start.start_on:%d.%m.%Y}, {len(report.outcomes)} tasks "
        f"({', '.join(owners)}), staffed {minutes:.0f} min after its creation"
    )
    mark_staffed(engine, start, now, body)
    return True


def _problem(engine: Engine, start: Start, reason: str, now: datetime, body: str) -> None:
    """A problem someone must fix: the assistant told once, the next try `AUTOSTART_RETRY` on."""
    mark_stopped(engine, start, reason, now, retry_at=now + AUTOSTART_RETRY, body=body)


def _team(engine: Engine, settings: Settings, start: Start) -> dict[str, Any]:
    """The rule's team with the project's own (configuration, then stored) over it."""
    team: dict[str, Any] = {}
    for rule in settings.templates.autostart:
        if rule.template == start.template:
            team = {role: owner(engine, role, who) for role, who in rule.team.items()}
            break
    keys = project_keys(start.project_id, start.project_name)
    team.update(project_team(engine, settings.templates.teams, keys))
    return team


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, Mapping):
        return [str(name) for name in value.values()]
    if isinstance(value, Iterable):
        names: list[str] = []
        for item in value:
            if isinstance(item, Mapping):
                item = item.get("title") or item.get("name")
            if item:
                names.append(str(item))
        return names
    return []


def _local_time(value: Any, zone: ZoneInfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), pattern).replace(tzinfo=zone).astimezone(UTC)
        except ValueError:
            continue
    return None


def _project_of_page(page: Any) -> str | None:
    parts = str(page or "").strip("/").split("/")
    return parts[1] if len(parts) >= 2 and parts[0] == "project" else None
