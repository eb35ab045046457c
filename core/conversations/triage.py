"""What the assistant has looked at: events marked new, seen or handled, by whom and when.

Deciding that a client message needs no answer is an action on the thread
(core.conversations.actions), since it changes the clocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from core.base.instants import Now, utc_now
from core.base.kinds import Actor, TriageState
from core.conversations.actions import UNDO_WINDOW, ActionRefused, UnknownStaff
from core.store.audit import audit_row, write_audit
from core.store.db import write
from core.store.models.staff import Staff
from core.store.models.system import table
from core.store.models.threads import Event

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
        _check_staff(connection, staff_id)
        result = connection.execute(statement, [{"event": event_id} for event_id in event_ids])
        return result.rowcount or 0


@dataclass(frozen=True)
class Handled:
    """A thread marked handled, and what its events' triage was before: what undo puts back."""

    thread_id: int
    staff_id: int
    at: datetime
    # (event id, triage, triage_by, triage_at) of each event it changed.
    before: tuple[tuple[int, str, int | None, datetime | None], ...]


def mark_handled(engine: Engine, thread_id: int, staff_id: int, clock: Now = utc_now) -> Handled:
    """Mark every event of a thread not yet handled as handled, keeping what undo needs."""
    at = clock()
    with write(engine) as connection:
        _check_staff(connection, staff_id)
        before = tuple(
            (row.id, row.triage, row.triage_by, row.triage_at)
            for row in connection.execute(
                select(EVENTS.c.id, EVENTS.c.triage, EVENTS.c.triage_by, EVENTS.c.triage_at).where(
                    EVENTS.c.thread_id == thread_id,
                    EVENTS.c.triage != TriageState.HANDLED.value,
                )
            )
        )
        if before:
            connection.execute(
                update(EVENTS)
                .where(EVENTS.c.id == bindparam("event"))
                .values(triage=TriageState.HANDLED.value, triage_by=staff_id, triage_at=at),
                [{"event": event_id} for event_id, *_rest in before],
            )
    return Handled(thread_id, staff_id, at, before)


def unhandle(engine: Engine, handled: Handled, actor: Actor, clock: Now = utc_now) -> int:
    """Undo `mark_handled` within UNDO_WINDOW: each event's triage as it was before.

    An event handled again since (by someone else, later) keeps that. The
    audit records the undo. Returns how many events were put back.
    """
    at = clock()
    if at >= handled.at + UNDO_WINDOW:
        seconds = int(UNDO_WINDOW.total_seconds())
        raise ActionRefused(f"too late: undo works for {seconds} seconds")
    with write(engine) as connection:
        result = connection.execute(
            update(EVENTS)
            .where(
                EVENTS.c.id == bindparam("event"),
                EVENTS.c.triage == TriageState.HANDLED.value,
                EVENTS.c.triage_by == handled.staff_id,
                EVENTS.c.triage_at == handled.at,
            )
            .values(triage=bindparam("was"), triage_by=bindparam("by"), triage_at=bindparam("on")),
            [
                {"event": event_id, "was": was, "by": by, "on": on}
                for event_id, was, by, on in handled.before
            ],
        )
        restored = result.rowcount or 0
        write_audit(
            connection,
            [
                audit_row(
                    at, actor, "undo_handled", "thread", handled.thread_id,
                    {"events": restored, "handled_at": handled.at},
                )
            ],
        )  # fmt: skip
    return restored


def _check_staff(connection: Connection, staff_id: int) -> None:
    known = connection.execute(
        select(func.count()).select_from(STAFF).where(STAFF.c.id == staff_id)
    ).scalar_one()
    if not known:
        raise UnknownStaff(f"no staff member {staff_id}")
