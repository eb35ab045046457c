"""`pmdesk templates`: list, show, check and apply task templates (docs/templates.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.base.i18n import N_, gettext, ngettext
from pmdesk.app import app
from pmdesk.console import _print_json, err, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context
from pmdesk.tables import _table

if TYPE_CHECKING:
    from bots.worksection.templates import ApplyReport, Outcome, Project
    from core.tracker.teams import Owner
    from core.tracker.templates import Template
    from core.tracker.templates_plan import PlannedTask
    from core.tracker.templates_record import Recorded

templates_app = typer.Typer(
    help="Task templates: a project's whole task tree, owners and deadlines in one go.",
    no_args_is_help=True,
)
app.add_typer(templates_app, name="templates")
_JSON = typer.Option("--json", help="Print JSON for scripts.")


# -- list, check ---------------------------------------------------------------------


@templates_app.command("list")
@command
def templates_list(as_json: Annotated[bool, _JSON] = False) -> None:
    """The templates pmdesk ships and the agency's own (templates.folder)."""
    from core.tracker.templates import (
        TemplateError,
        load_template,
        shipped_folder,
        template_files,
        vocabulary,
    )

    settings = context().settings
    words = vocabulary(settings.templates)
    shipped = shipped_folder()
    rows: list[dict[str, Any]] = []
    for name, path in template_files(settings.templates.folder).items():
        row: dict[str, Any] = {
            "name": name,
            "source": "shipped" if path.parent == shipped else "own",
            "file": str(path),
        }
        try:
            template = load_template(path, words)
        except TemplateError as error:
            row.update(title=None, tasks=None, problems=len(error.problems))
        else:
            row.update(title=template.title, tasks=template.size, problems=0)
        rows.append(row)
    if as_json:
        _print_json(rows)
        return
    columns = [N_("name"), N_("title"), N_("tasks"), N_("source"), N_("file")]
    table = _table(gettext("{count} templates").format(count=len(rows)), columns, ("tasks",))
    for row in rows:
        title = row["title"]
        if row["problems"]:
            title = gettext("refused: {count} problems (pmdesk templates check)").format(
                count=row["problems"]
            )
        table.add_row(
            row["name"],
            title,
            "-" if row["tasks"] is None else str(row["tasks"]),
            gettext(row["source"]),
            row["file"],
        )
    out.print(table)


# Words of the list's source column, translated where they are shown.
_SOURCES = (N_("shipped"), N_("own"))


@templates_app.command("check")
@command
def templates_check(
    file: Annotated[str, typer.Argument(help="A template file (or a template's name).")],
) -> None:
    """Check a template: each problem with its file, its line and the reason.

    Exit status 2 when it has any.
    """
    template = _load(file)
    out.print(
        gettext("{file}: good, {count} tasks ({title})").format(
            file=template.file, count=template.size, title=template.title
        ),
        markup=False,
    )


def _load(name: str) -> Template:
    """The template `name` (or in the file `name`), checked; its problems printed otherwise."""
    from core.tracker.templates import (
        TemplateError,
        UnknownTemplate,
        find_template,
        load_template,
        vocabulary,
    )

    settings = context().settings
    try:
        path = find_template(name, settings.templates.folder)
    except UnknownTemplate as error:
        if Path(name).expanduser().exists():
            path = Path(name).expanduser()
        else:
            raise Failure(str(error)) from None
    try:
        return load_template(path, vocabulary(settings.templates))
    except TemplateError as error:
        for problem in error.problems:
            err.print(str(problem), markup=False)
        count = len(error.problems)
        raise Failure(
            ngettext(
                "{file}: refused, {count} problem", "{file}: refused, {count} problems", count
            ).format(file=path, count=count)
        ) from None


# -- show, apply -----------------------------------------------------------------------


def _start_date(text: str | None) -> date:
    """A start date from the command line: YYYY-MM-DD or DD.MM.YYYY; today without one."""
    if text is None:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(context().settings.templates_timezone)
        return context().clock().astimezone(zone).date()
    from pmdesk.dates import parse_day

    return parse_day(text)


_START = typer.Option(
    "--start", help="The project's start, day 0 of the template (YYYY-MM-DD); today by default."
)
_PROJECT = typer.Option("--project", help="The Worksection project: its id or its name.")


@templates_app.command("show")
@command
def templates_show(
    name: Annotated[str, typer.Argument(help="The template's name (pmdesk templates list).")],
    start: Annotated[str | None, _START] = None,
    project: Annotated[str | None, _PROJECT] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """The template's tree with real dates (business days, holidays skipped) and owners.

    Owners are the project's team with --project, the roles otherwise.
    """
    from core.tracker.templates_plan import business_days, plan

    template = _load(name)
    day0 = _start_date(start)
    team = _team(_project_keys(project)) if project else None
    planned = plan(template, business_days(context().settings, day0), team)
    if as_json:
        _print_json(_plan_json(planned, {}))
        return
    _print_plan(template, planned, day0, team is not None, {})


@templates_app.command("apply")
@command
def templates_apply(
    name: Annotated[str, typer.Argument(help="The template's name (pmdesk templates list).")],
    project: Annotated[str, _PROJECT],
    start: Annotated[
        str, typer.Option("--start", help="The project's start, day 0 of the template.")
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print what would be created; ask Worksection nothing."),
    ] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Create the template's tasks in a Worksection project, parents first.

    Resumable and idempotent: each task created is recorded before the next,
    so applying again creates only what is missing, and nothing once all
    are there. Exit status 1 when some tasks could not be created (run it
    again once the cause is fixed).
    """
    from core.tracker.templates_plan import business_days, plan, roles_used

    ctx = context()
    template = _load(name)
    day0 = _start_date(start)
    if dry_run:
        from bots.worksection.templates import known_project

        known = known_project(ctx.engine, project)
        team = _team(_project_keys(project, known))
        planned = plan(template, business_days(ctx.settings, day0), team)
        rows = _recorded(known, template.name)
        if as_json:
            _print_json(_plan_json(planned, rows))
        else:
            _print_plan(template, planned, day0, True, rows)
        _refuse_missing_roles(project, team, roles_used(template))
        return
    import asyncio

    report = asyncio.run(_apply(template, project, day0, as_json))
    if as_json:
        _print_json(_report_json(report))
    else:
        _print_report(report)
    if not report.finished:
        raise SystemExit(EXIT_REJECTED)


async def _apply(template: Template, given: str, day0: date, as_json: bool) -> ApplyReport:
    from bots.worksection.api import WorksectionClient, WorksectionError
    from bots.worksection.templates import (
        ProjectNotFound,
        after_lookup,
        apply_template,
        find_project,
    )
    from core.tracker.templates_plan import business_days, plan, roles_used
    from core.tracker.templates_record import RunConflict

    ctx = context()
    config = ctx.settings.worksection
    if config is None:
        raise Failure(gettext("Worksection is not configured: set worksection.account and api_key"))
    client = WorksectionClient.from_config(config, ctx.engine, ctx.clock)
    try:
        try:
            project = await find_project(client, given)
        except ProjectNotFound as error:
            if error.ids:
                raise Failure(
                    gettext("{count} projects are called {name!r} ({ids}): give the id").format(
                        count=len(error.ids), name=error.given, ids=", ".join(error.ids)
                    )
                ) from None
            raise Failure(
                gettext("no active project {name!r} in Worksection").format(name=error.given)
            ) from None
        except WorksectionError as error:
            raise Failure(
                gettext("Worksection did not answer: {message}").format(message=error.message)
            ) from None
        first_request = after_lookup(config)
        team = _team(_project_keys(given, project))
        _refuse_missing_roles(given, team, roles_used(template))
        planned = plan(template, business_days(ctx.settings, day0), team)
        bar = None if as_json else _Bar(len(planned), template.title)
        try:
            return await apply_template(
                client,
                ctx.engine,
                template,
                planned,
                project,
                day0,
                ctx.clock,
                progress=None if bar is None else bar.advance,
                not_before=first_request,
            )
        except RunConflict as error:
            raise Failure(str(error)) from None
        finally:
            if bar is not None:
                bar.stop()
    finally:
        await client.aclose()


class _Bar:
    """The run's progress: a bar on a terminal, a line per task otherwise (a log)."""

    def __init__(self, total: int, label: str) -> None:
        self._total = total
        self._bar: Any = None
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                "{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err.console,
                transient=True,
            )
            from rich.markup import escape

            from core.base.text import clean

            # The description is read as markup: the template's title is text.
            self._task = self._bar.add_task(escape(clean(label)), total=total)
            self._bar.start()

    def advance(self, done: int, total: int, outcome: Outcome) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
            return
        err.print(f"[{done}/{total}] {_status(outcome)}: {outcome.task.spec.title}", markup=False)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# -- teams -------------------------------------------------------------------------------


def _project_keys(given: str, project: Project | None = None) -> list[str]:
    from core.tracker.teams import project_keys

    return project_keys(given, *((project.id, project.name) if project else ()))


def _team(keys: list[str]) -> dict[str, Owner]:
    from core.tracker.teams import TeamError, project_team

    ctx = context()
    try:
        return project_team(ctx.engine, ctx.settings.templates.teams, keys)
    except TeamError as error:
        raise Failure(str(error)) from None


def _refuse_missing_roles(project: str, team: dict[str, Owner], roles: list[str]) -> None:
    from core.tracker.teams import missing_roles

    missing = missing_roles(team, roles)
    if missing:
        example = " ".join(f"{role}=NAME" for role in missing)
        raise Failure(
            gettext(
                "nobody holds {roles} on {project}: nothing was created "
                "(pmdesk projects team {project} {example})"
            ).format(roles=", ".join(missing), project=project, example=example)
        )


def _recorded(project: Project | None, template: str) -> dict[str, Recorded]:
    if project is None:
        return {}
    from core.tracker.templates_record import recorded

    return recorded(context().engine, project.id, template)


# -- printing ----------------------------------------------------------------------------


def _day(day: date) -> str:
    from babel.dates import format_date

    from core.base import i18n

    return str(format_date(day, "EEE d MMM", locale=i18n.locale()))


def _owner(task: PlannedTask, with_team: bool) -> str:
    if task.owner is not None:
        return f"{task.spec.role}: {task.owner.name}"
    if with_team:
        return gettext("{role}: nobody").format(role=task.spec.role)
    return task.spec.role


def _print_plan(
    template: Template,
    planned: list[PlannedTask],
    day0: date,
    with_team: bool,
    rows: dict[str, Recorded],
) -> None:
    last = max((task.deadline for task in planned), default=day0)
    out.print(
        gettext("{title} ({name}): {count} tasks, {first} to {last}").format(
            title=template.title,
            name=template.name,
            count=len(planned),
            first=_day(planned[0].start if planned else day0),
            last=_day(last),
        ),
        markup=False,
    )
    phase = None
    for task in planned:
        top = task.parent is None
        if top and task.spec.phase != phase:
            phase = task.spec.phase
            out.print(f"{phase}", markup=False, style="bold")
        indent = "  " if top else "      "
        tags = "".join(f"  #{tag}" for tag in task.spec.tags)
        row = rows.get(task.path)
        done = ""
        if row is not None and row.task_id and row.state == "created":
            done = "  " + gettext("created #{id}").format(id=row.task_id)
        out.print(
            f"{indent}{'' if top else '- '}{task.spec.title}   {_day(task.start)} - "
            f"{_day(task.deadline)}   {_owner(task, with_team)}{tags}{done}",
            markup=False,
        )
        for item in task.spec.checklist:
            out.print(f"{indent}    [ ] {item}", markup=False)
    if rows:
        left = sum(1 for task in planned if task.path not in _created(rows))
        out.print(
            gettext("{created} created already, {left} to create").format(
                created=len(planned) - left, left=left
            ),
            markup=False,
        )


def _created(rows: dict[str, Recorded]) -> set[str]:
    return {path for path, row in rows.items() if row.state == "created" and row.task_id}


def _plan_json(planned: list[PlannedTask], rows: dict[str, Recorded]) -> list[dict[str, Any]]:
    created = _created(rows)
    return [
        {
            "path": list(task.spec.path),
            "title": task.spec.title,
            "phase": task.spec.phase,
            "role": task.spec.role,
            "owner": task.owner.name if task.owner else None,
            "owner_email": task.owner.email if task.owner else None,
            "start": task.start,
            "deadline": task.deadline,
            "tags": list(task.spec.tags),
            "checklist": list(task.spec.checklist),
            "task_id": rows[task.path].task_id if task.path in created else None,
        }
        for task in planned
    ]


_STATUSES = {
    "created": N_("created"),
    "found": N_("found in Worksection"),
    "kept": N_("already created"),
    "refused": N_("refused"),
    "skipped": N_("not created"),
    "waiting": N_("waiting"),
}


def _status(outcome: Outcome) -> str:
    return gettext(_STATUSES[outcome.status])


def _why(outcome: Outcome) -> str:
    from bots.worksection.templates import PARENT_DELETED, PARENT_MISSING

    if outcome.reason == PARENT_DELETED:
        return gettext(
            "its parent task #{id} was deleted in Worksection: the next run creates it again"
        ).format(id=outcome.task_id)
    if outcome.reason == PARENT_MISSING:
        return gettext("its parent task is not created")
    return outcome.message or "-"  # Worksection's own words ("Worksection: ...")


def _print_report(report: ApplyReport) -> None:
    created = report.count("created", "found")
    kept = report.count("kept")
    out.print(
        gettext("{template} on {project} (#{id}): {created} created, {kept} already there").format(
            template=report.template,
            project=report.project.name,
            id=report.project.id,
            created=created,
            kept=kept,
        ),
        markup=False,
    )
    for outcome in report.outcomes:
        if outcome.status in ("refused", "skipped"):
            err.print(
                f"{_status(outcome)}: {' / '.join(outcome.task.spec.path)}: {_why(outcome)}",
                markup=False,
            )
    if report.stopped is not None:
        err.print(
            gettext(
                "stopped: Worksection is unreachable ({message}); {count} tasks wait: "
                "apply again to create them"
            ).format(message=report.stopped, count=report.count("waiting")),
            markup=False,
        )
    elif not report.finished:
        err.print(
            gettext("{count} tasks not created: apply again once the cause is fixed").format(
                count=len(report.problems)
            ),
            markup=False,
        )


def _report_json(report: ApplyReport) -> dict[str, Any]:
    return {
        "project": {"id": report.project.id, "name": report.project.name},
        "template": report.template,
        "finished": report.finished,
        "stopped": report.stopped,
        "tasks": [
            {
                "path": list(outcome.task.spec.path),
                "status": outcome.status,
                "task_id": outcome.task_id,
                "reason": outcome.reason,
                "message": outcome.message,
            }
            for outcome in report.outcomes
        ],
    }
