"""Changes pmdesk makes in the tracker: what each action asks of Worksection.

See core.tracker: an action is an event of the operator; its write to
Worksection is a `Delivery` row (channel `TRACKER_CHANNEL`) in the same
transaction, and this row says what to write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

# The delivery channel of changes written to the tracker's tasks (replies to
# clients go through the thread's own channel: "worksection", "telegram"...).
TRACKER_CHANNEL = "worksection_task"


class TrackerAction(SQLModel, table=True):
    """One change to write in the tracker: the verb, its task, its parameters, and its echo.

    `params` is JSON: what the action asks (a date, checklist lines, a
    title...), decided when it was recorded, so that what is sent later is
    exactly what the person asked for. `result_id` is what Worksection gave
    back (the created subtask's id, the checklist comment's id); `echoed_at`
    and `echo_key` when and as the change came back through the webhook or
    the event log and was recognised as ours.
    """

    __table_args__ = (Index("ix_trackeraction_task", "task_id", "verb"),)

    event_id: int = Field(primary_key=True, foreign_key="event.id", ondelete="CASCADE")
    thread_id: int = Field(foreign_key="thread.id", index=True, ondelete="CASCADE")
    # The tracker's task the change is made on (the parent, for a subtask).
    task_id: str
    # deadline, todo, subtask, owner, close, reopen, tags.
    verb: str
    params: str = Field(sa_column=Column(Text, nullable=False))
    result_id: str | None = Field(default=None, index=True)
    echoed_at: datetime | None = None
    # What identifies the echo (its item's action, task, minute and change): the
    # same echo arriving again, by the other road, is known by it.
    echo_key: str | None = Field(default=None, index=True)
    created_at: datetime
