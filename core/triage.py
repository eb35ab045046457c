"""What the assistant has looked at: events marked new, seen or handled, by whom and when.

Deciding that a client message needs no answer is an action on the thread
(core.actions), since it changes the clocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, bindparam, func, select, update

from .actions import UnknownStaff
from .db import write
from .kinds import TriageState
from .models import Event, Staff, table
from .timeutil import Now, utc_now

EVENTS, STAFF = table(Event), table(Staff)


def set_triage(
    engine: Engine,
    event_ids: Sequence[int],
    state: TriageState | str,
    staff_id: int,
    clock: Now = utc_now,
) -> int:
    """Mark events new, seen or handled by a staff member; returns how many changed.

    Handled is final: marking a handled event as merely seen leaves it handled.
    """
    state = TriageState(state)
    statement = (
        update(EVENTS)
        .where(EVENTS.c.id == bindparam("event"))
        .values(triage=state.value, triage_by=staff_id, triage_at=clock())
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


def handle_thread(engine: Engine, thread_id: int, staff_id: int, clock: Now = utc_now) -> int:
    """Mark every event of a thread not yet handled as handled; returns how many changed."""
    with engine.connect() as connection:
        ids = connection.execute(
            select(EVENTS.c.id).where(
                EVENTS.c.thread_id == thread_id, EVENTS.c.triage != TriageState.HANDLED.value
            )
        ).scalars()
        pending = list(ids)
    return set_triage(engine, pending, TriageState.HANDLED, staff_id, clock) if pending else 0
