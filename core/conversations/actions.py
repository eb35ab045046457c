"""What the assistant does on a thread, recorded as events of pmdesk's own source.

A reply, an assignment and "no reply needed" go through ingestion like
anything a source sends: the clocks stay a pure function of the thread's
events, and every action is kept with who took it and when. A public reply
is also queued for delivery through the thread's channel, in the same
transaction (see `Delivery`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine, delete, func, insert, select

from core.base.instants import Now, utc_now
from core.base.kinds import EventKind
from core.conversations.ingest import OWN_SOURCE, Ingestor, Result, Withdrawn
from core.conversations.people import (
    UnknownStaff as UnknownStaff,  # re-exported for callers of the actions
)
from core.store.db import write
from core.store.models.staff import Staff, StaffEmail
from core.store.models.system import table
from core.store.models.threads import Assignment

STAFF, EMAILS, ASSIGNMENT = table(Staff), table(StaffEmail), table(Assignment)
WATCHER = "watcher"
# How long an action taken on the dashboard can be taken back; a reply
# written there is held as long before it may be sent.
UNDO_WINDOW = timedelta(seconds=5)


class ActionRefused(ValueError):
    """The action was not recorded; the message says why (for the person who tried)."""


def staff_author(engine: Engine, staff_id: int) -> dict[str, str]:
    """A staff member as the author (or assignee) of an event."""
    with engine.connect() as connection:
        staff = connection.execute(
            select(STAFF.c.name, func.min(EMAILS.c.email))
            .select_from(STAFF.outerjoin(EMAILS, EMAILS.c.staff_id == STAFF.c.id))
            .where(STAFF.c.id == staff_id)
            .group_by(STAFF.c.id)
        ).first()
    if staff is None:
        raise UnknownStaff(f"no staff member {staff_id}")
    author = {"name": staff.name, "role": "staff"}
    if staff[1]:
        author["email"] = staff[1]
    return author


def act(
    ingestor: Ingestor,
    thread_id: int,
    staff_id: int,
    kind: EventKind,
    text: str = "",
    *,
    clock: Now = utc_now,
    key: str | None = None,
    hold: timedelta | None = None,
    **fields: Any,
) -> Result:
    """Record one action of a staff member on a thread; returns the ingestion result.

    `key`: what makes the action itself unique, when it comes from something
    that may arrive twice (a Telegram update's identity: "chat:message_id",
    a button press's query id). The same key on the same thread is the same
    action: recorded once, the second time a "duplicate" result, so a
    redelivered update queues no second reply. Without a key, every call is
    a new action. `hold`: see `reply`.
    """
    at: datetime = clock()
    # Unique even for two actions in the same microsecond.
    unique = key if key is not None else f"{at.isoformat()}:{uuid4().hex[:8]}"
    result = ingestor.ingest_one(
        {
            "id": f"{kind.value}:{thread_id}:{unique}",
            "source": OWN_SOURCE,
            "kind": kind.value,
            "occurred_at": at.isoformat(),
            "task": {"id": str(thread_id)},
            "author": staff_author(ingestor.engine, staff_id),
            "text": text,
            **fields,
        },
        hold=hold,
    )
    if result.status == "rejected":
        raise ActionRefused(result.reason or "refused")
    return result


def reply(
    ingestor: Ingestor,
    thread_id: int,
    staff_id: int,
    text: str,
    *,
    internal: bool = False,
    clock: Now = utc_now,
    key: str | None = None,
    hold: timedelta | None = None,
) -> Result:
    """Answer the client on a thread (or leave an internal note).

    A public reply stops the thread's running clock at once and waits in
    `Delivery` as pending until the services send it through the channel the
    client wrote in. `hold`: not before that long after now, so that it can
    be withdrawn meanwhile (`undo`); None sends it at the next drain.
    """
    if not text.strip():
        raise ActionRefused("an empty reply is not sent")
    return act(
        ingestor,
        thread_id,
        staff_id,
        EventKind.MESSAGE,
        text,
        internal=internal,
        clock=clock,
        key=key,
        hold=hold,
    )


def undo(ingestor: Ingestor, event_id: int, staff_id: int) -> Withdrawn:
    """Take back a reply, a note or "no reply needed" within UNDO_WINDOW of it.

    The thread reads as if it had never been taken (its clock runs again,
    the reply's delivery row is gone) and the audit records the undo.
    Refused with a reason (`core.conversations.ingest.Unwithdrawable`) once the window has
    passed or the reply is due to go out.
    """
    actor = staff_author(ingestor.engine, staff_id)["name"]
    return ingestor.withdraw(event_id, actor, UNDO_WINDOW)


def assign(
    ingestor: Ingestor,
    thread_id: int,
    staff_id: int,
    assignee_id: int | None,
    clock: Now = utc_now,
    key: str | None = None,
) -> Result:
    """Make `assignee_id` (None: nobody) the thread's assignee, as `staff_id` decided."""
    assignee = None if assignee_id is None else staff_author(ingestor.engine, assignee_id)
    return act(
        ingestor, thread_id, staff_id, EventKind.ASSIGNEE, assignee=assignee, clock=clock, key=key
    )


def no_reply_needed(
    ingestor: Ingestor,
    thread_id: int,
    staff_id: int,
    reason: str = "",
    clock: Now = utc_now,
    key: str | None = None,
) -> Result:
    """Close the thread's running clock as "no reply needed" (the client wrote "thanks").

    The clock leaves the share met; the decision stays in the thread's history.
    """
    return act(
        ingestor, thread_id, staff_id, EventKind.NO_REPLY_NEEDED, reason, clock=clock, key=key
    )


def watch(engine: Engine, thread_id: int, staff_id: int, clock: Now = utc_now) -> bool:
    """Tag a staff member on a thread as a watcher; False if they already were."""
    staff_author(engine, staff_id)  # UnknownStaff before anything is written
    with write(engine) as connection:
        known = connection.execute(
            select(ASSIGNMENT.c.staff_id).where(
                ASSIGNMENT.c.thread_id == thread_id,
                ASSIGNMENT.c.staff_id == staff_id,
                ASSIGNMENT.c.role == WATCHER,
            )
        ).first()
        if known:
            return False
        connection.execute(
            insert(ASSIGNMENT).values(
                thread_id=thread_id, staff_id=staff_id, role=WATCHER, since=clock()
            )
        )
    return True


def unwatch(engine: Engine, thread_id: int, staff_id: int) -> bool:
    """Remove a watcher from a thread; False if they were not watching it."""
    with write(engine) as connection:
        removed = connection.execute(
            delete(ASSIGNMENT).where(
                ASSIGNMENT.c.thread_id == thread_id,
                ASSIGNMENT.c.staff_id == staff_id,
                ASSIGNMENT.c.role == WATCHER,
            )
        ).rowcount
    return bool(removed)
