"""A project's team: who holds each role, so that one template gives each project its owners.

Two sources, the second winning role by role: the configuration
(`templates.teams`, by project id or name) and what `pmdesk projects team`
stored in the database. A role names a staff member (name, email or id, as
`pmdesk staff` knows them) who must be on the team and have an email:
Worksection assigns a task by email. A role with nobody is the caller's to
refuse (`missing_roles`) before anything is created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select

from core.base.i18n import _
from core.conversations.people import AmbiguousStaff, UnknownStaff, find_staff
from core.store.db import write
from core.store.models.system import table
from core.store.models.templates import ProjectTeam

TEAMS = table(ProjectTeam)


class TeamError(ValueError):
    """A team that cannot be used: an unknown role, an unknown or unreachable person."""


@dataclass(frozen=True)
class Owner:
    """The staff member who holds a role on a project."""

    role: str
    staff_id: int
    name: str
    email: str


def project_keys(*names: str | None) -> list[str]:
    """How a project is looked up in teams: its id and its name, folded to lower case."""
    return list(dict.fromkeys(name.strip().casefold() for name in names if name and name.strip()))


def owner(engine: Engine, role: str, who: str | int) -> Owner:
    """The staff member `who` as the holder of `role`; TeamError if they cannot hold it."""
    try:
        person = find_staff(engine, who)
    except (UnknownStaff, AmbiguousStaff) as error:
        raise TeamError(f"{role}: {error}") from None
    if not person.active:
        raise TeamError(
            _("{role}: {name} is no longer on the team").format(role=role, name=person.name)
        )
    if not person.emails:
        raise TeamError(
            _(
                "{role}: {name} has no email, which Worksection assigns tasks by "
                "(pmdesk staff edit {id} --add-email E)"
            ).format(role=role, name=person.name, id=person.id)
        )
    return Owner(role, person.id, person.name, person.emails[0])


def set_team(
    engine: Engine,
    project: str,
    assignments: Mapping[str, str],
    roles: Sequence[str],
    now: datetime,
) -> dict[str, Owner | None]:
    """Store who holds each role on `project`; an empty name clears the role.

    Every assignment is checked first: one bad role or person changes nothing.
    """
    key = project_keys(project)
    if not key:
        raise TeamError(_("a project is needed"))
    changes: dict[str, Owner | None] = {}
    for role, who in assignments.items():
        if role not in roles:
            raise TeamError(
                _("unknown role {role!r} (templates.roles knows: {known})").format(
                    role=role, known=", ".join(roles)
                )
            )
        changes[role] = owner(engine, role, who) if who.strip() else None
    with write(engine) as connection:
        for role, holder in changes.items():
            connection.execute(delete(TEAMS).where(TEAMS.c.project == key[0], TEAMS.c.role == role))
            if holder is not None:
                connection.execute(
                    insert(TEAMS).values(
                        project=key[0], role=role, staff_id=holder.staff_id, updated_at=now
                    )
                )
    return changes


def stored_team(engine: Engine, keys: Iterable[str]) -> dict[str, int]:
    """Role -> staff id stored for the project under any of `keys` (the first key wins)."""
    keys = list(keys)
    if not keys:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(TEAMS.c.project, TEAMS.c.role, TEAMS.c.staff_id).where(TEAMS.c.project.in_(keys))
        ).all()
    found: dict[str, int] = {}
    for key in reversed(keys):
        for project, role, staff_id in rows:
            if project == key:
                found[role] = int(staff_id)
    return found


def configured_team(teams: Mapping[str, Mapping[str, str]], keys: Iterable[str]) -> dict[str, str]:
    """Role -> staff member named in the configuration for the project (the first key wins)."""
    folded = {name.strip().casefold(): team for name, team in teams.items()}
    found: dict[str, str] = {}
    for key in reversed(list(keys)):
        found.update(folded.get(key, {}))
    return found


def project_team(
    engine: Engine, teams: Mapping[str, Mapping[str, str]], keys: Iterable[str]
) -> dict[str, Owner]:
    """Role -> owner on the project: the configuration's team with the stored one over it.

    TeamError when someone named cannot hold their role.
    """
    keys = list(keys)
    named: dict[str, str | int] = dict(configured_team(teams, keys))
    named.update(stored_team(engine, keys))
    return {role: owner(engine, role, who) for role, who in sorted(named.items())}


def missing_roles(team: Mapping[str, Owner], roles: Iterable[str]) -> list[str]:
    """The roles of `roles` nobody holds on the team."""
    return [role for role in roles if role not in team]
