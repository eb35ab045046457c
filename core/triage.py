"""What the assistant does with what arrives: mark it seen or handled, or
decide that a client message needs no answer.

"No reply needed" is recorded as an event of pmdesk's own source on the
thread, so the clocks stay a pure function of the thread's events and the
decision is kept with who took it and when, like everything else.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, bindparam, func, select, update

from .db import write
from .ingest import OWN_SOURCE, Ingestor, Result
from .models import Event, EventKind, Staff, StaffEmail, TriageState, table
from .timeutil import Now, utc_now

EVENTS, STAFF, EMAILS = table(Event), table(Staff), table(StaffEmail)


class UnknownStaff(LookupError):
    pass


def set_triage(
    engine: Engine,
    event_ids: Sequence[int],
    state: TriageState | str,
    staff_id: int,
    now: Now = utc_now,
) -> int:
    """Mark events new, seen or handled by a staff member; returns how many changed.

    Handled is final: marking a handled event as merely seen leaves it handled.
    """
    state = TriageState(state)
    statement = (
        update(EVENTS)
        .where(EVENTS.c.id == bindparam("event"))
        .values(triage=state.value, triage_by=staff_id, triage_at=now())
    )
    if state is not TriageState.HANDLED:
        statement = statement.where(EVENTS.c.triage != TriageState.HANDLED.value)
    with write(engine) as connection:
        known = connection.execute(
            select(func.count()).select_from(STAFF).where(STAFF.c.id == staff_id)
        ).scalar_one()
        if not known:
            raise UnknownStaff(f"no staff member {staff_id}")
        result = connection.execute(statement, [{"event": event_id} for event_id in event_ids])
        return result.rowcount or 0


def no_reply_needed(
    ingestor: Ingestor, thread_id: int, staff_id: int, reason: str = "", now: Now = utc_now
) -> Result:
    """Close the thread's running clock as "no reply needed" (the client wrote "thanks").

    Kept as an event of the thread, so it is audited and survives replays;
    the clock leaves the share met. Returns the ingestion result.
    """
    with ingestor.engine.connect() as connection:
        staff = connection.execute(
            select(STAFF.c.name, func.min(EMAILS.c.email))
            .select_from(STAFF.outerjoin(EMAILS, EMAILS.c.staff_id == STAFF.c.id))
            .where(STAFF.c.id == staff_id)
            .group_by(STAFF.c.id)
        ).first()
    if staff is None:
        raise UnknownStaff(f"no staff member {staff_id}")
    at = now()
    author = {"name": staff.name, "role": "staff"}
    if staff[1]:
        author["email"] = staff[1]
    return ingestor.ingest_one(
        {
            "id": f"no-reply-needed:{thread_id}:{at.isoformat()}",
            "source": OWN_SOURCE,
            "kind": EventKind.NO_REPLY_NEEDED.value,
            "occurred_at": at.isoformat(),
            "task": {"id": str(thread_id)},
            "author": author,
            "text": reason,
        }
    )
