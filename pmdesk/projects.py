"""`pmdesk projects`: a project's team, who holds each role of its templates (docs/templates.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from core.base.i18n import N_, gettext
from pmdesk.app import app
from pmdesk.console import _print_json, out
from pmdesk.context import Failure, command, context
from pmdesk.tables import _table

projects_app = typer.Typer(
    help="Worksection projects: who holds each role of their templates.", no_args_is_help=True
)
app.add_typer(projects_app, name="projects")


@projects_app.command("team")
@command
def projects_team(
    project: Annotated[str, typer.Argument(help="The Worksection project: its id or its name.")],
    assignments: Annotated[
        list[str] | None,
        typer.Argument(
            help="role=NAME (a staff member's name, email or id); role= clears the role.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show a project's team, or set who holds roles on it: pm=Ana designer=max@agency.example.

    What is set here wins over the configuration's templates.teams, role by role.
    """
    from bots.worksection.templates import known_project
    from core.tracker.teams import TeamError, project_keys, project_team, set_team

    ctx = context()
    changes: dict[str, str] = {}
    for item in assignments or []:
        role, equals, who = item.partition("=")
        if not equals or not role.strip():
            raise Failure(gettext("{item!r}: write role=NAME").format(item=item))
        changes[role.strip()] = who.strip()
    try:
        if changes:
            set_team(ctx.engine, project, changes, ctx.settings.templates.roles, ctx.clock())
        known = known_project(ctx.engine, project)
        keys = project_keys(project, *((known.id, known.name) if known else ()))
        team = project_team(ctx.engine, ctx.settings.templates.teams, keys)
    except TeamError as error:
        raise Failure(str(error)) from None
    if as_json:
        _print_json(
            [
                {"role": role, "staff_id": owner.staff_id, "name": owner.name, "email": owner.email}
                for role, owner in team.items()
            ]
        )
        return
    columns = [N_("role"), N_("name"), N_("email")]
    table = _table(gettext("Team of {project}").format(project=project), columns)
    for role in ctx.settings.templates.roles:
        owner = team.get(role)
        table.add_row(role, owner.name if owner else "-", owner.email if owner else "-")
    out.print(table)
