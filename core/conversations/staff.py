"""Staff as the screens read them, through a reader: no SQLAlchemy.

Apart from core.conversations.people (which writes, through SQLAlchemy) so
that the dashboard finds its operator on its plain sqlite3 reader, without
loading the database layer into a screen that has no other use for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.base.kinds import StaffRole
from core.store.reader import Reader, instant


@dataclass(frozen=True)
class StaffView:
    id: int
    name: str
    role: str
    emails: tuple[str, ...]
    telegram_id: int | None
    active: bool
    # Notifications wait until then (see core.notify); None: not muted.
    muted_until: datetime | None


def operator_in(reader: Reader, wanted: str | None = None) -> StaffView | None:
    """The staff member the dashboard acts as.

    `wanted` (the `operator` setting) is a name or an email; without it, the
    first assistant registered, then anyone at all: a dashboard opened on a
    fresh database still shows everything, it only cannot act yet. Removed
    staff are never chosen.
    """
    team = [person for person in staff_views(reader) if person.active]
    if wanted:
        key = wanted.strip().casefold()
        return next(
            (person for person in team if person.name.casefold() == key or key in person.emails),
            None,
        )
    assistants = [person for person in team if person.role == StaffRole.ASSISTANT.value]
    return min(assistants or team, key=lambda person: person.id, default=None)


# -- reading -------------------------------------------------------------------

_STAFF = "SELECT id, name, role, telegram_id, active, muted_until FROM staff"
_EMAILS = "SELECT staff_id, email FROM staffemail WHERE staff_id IN (SELECT id FROM staff {})"


def staff_views(
    reader: Reader, where: str = "", params: dict[str, Any] | None = None
) -> list[StaffView]:
    """Staff matching `where` (SQL on the staff table), by name, with their emails."""
    emails: dict[int, list[str]] = defaultdict(list)
    for staff_id, email in reader.rows(_EMAILS.format(where), params):
        emails[staff_id].append(email)
    return [
        StaffView(
            id=staff_id,
            name=name,
            role=role,
            emails=tuple(sorted(emails[staff_id])),
            telegram_id=telegram_id,
            active=bool(active),
            muted_until=instant(muted_until),
        )
        for staff_id, name, role, telegram_id, active, muted_until in reader.rows(
            f"{_STAFF} {where} ORDER BY name, id", params
        )
    ]
