"""Staff: the agency's people, known by their emails across every source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, insert, select

from .db import write
from .kinds import StaffRole
from .models import Staff, StaffEmail, table

STAFF, EMAILS = table(Staff), table(StaffEmail)


@dataclass(frozen=True)
class StaffView:
    id: int
    name: str
    role: str
    emails: tuple[str, ...]
    telegram_id: int | None


def add_staff(
    engine: Engine, name: str, role: StaffRole | str, emails: Sequence[str], now: datetime
) -> int:
    """Register a staff member; one already known by any of the emails is kept as is.

    Ingestion files people it has not met as specialists; registering the
    team first gives the assistant, PMs and managers their roles.
    """
    role = StaffRole(role).value  # ValueError names the bad role
    addresses = [email.strip().lower() for email in emails if email.strip()]
    with write(engine) as connection:
        if addresses:
            known = connection.execute(
                select(EMAILS.c.staff_id).where(EMAILS.c.email.in_(addresses))
            ).scalar()
            if known is not None:
                return int(known)
        staff_id: int = connection.execute(
            insert(STAFF).values(name=name, role=role, created_at=now).returning(STAFF.c.id)
        ).scalar_one()
        if addresses:
            connection.execute(
                insert(EMAILS), [{"email": email, "staff_id": staff_id} for email in addresses]
            )
    return staff_id


def list_staff(engine: Engine) -> list[StaffView]:
    emails = (
        select(func.group_concat(EMAILS.c.email, " "))
        .where(EMAILS.c.staff_id == STAFF.c.id)
        .scalar_subquery()
    )
    query = select(
        STAFF.c.id, STAFF.c.name, STAFF.c.role, STAFF.c.telegram_id, emails.label("emails")
    ).order_by(STAFF.c.name)
    with engine.connect() as connection:
        return [
            StaffView(
                id=row.id,
                name=row.name,
                role=row.role,
                emails=tuple(sorted((row.emails or "").split())),
                telegram_id=row.telegram_id,
            )
            for row in connection.execute(query)
        ]


def operator(engine: Engine, wanted: str | None = None) -> StaffView | None:
    """The staff member the dashboard acts as.

    `wanted` (the `operator` setting) is a name or an email; without it, the
    first assistant registered, then anyone at all: a dashboard opened on a
    fresh database still shows everything, it only cannot act yet.
    """
    team = list_staff(engine)
    if wanted:
        key = wanted.strip().casefold()
        return next(
            (person for person in team if person.name.casefold() == key or key in person.emails),
            None,
        )
    assistants = [person for person in team if person.role == StaffRole.ASSISTANT.value]
    return min(assistants or team, key=lambda person: person.id, default=None)
