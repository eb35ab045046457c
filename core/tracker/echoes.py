"""Our own changes coming back from the tracker, recognised and not counted twice.

Worksection reports every change, ours included, through its webhook and
its event log. A change pmdesk wrote is already an event of the person who
made it; its echo must give no second event (and so can never open or stop
a clock). `claim_echo` finds the action an echo comes from: same task, same
kind of change, same value, not echoed yet and not refused; for a subtask or
a checklist comment, by the id Worksection gave when the action was sent,
or, if that was never recorded (the process stopped between sending and
recording), by what was sent, and the action is then marked written so it
is not sent again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from core.base.kinds import DeliveryStatus
from core.store.db import write
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.tracker import TRACKER_CHANNEL, TrackerAction

ACTION, DELIVERY = table(TrackerAction), table(Delivery)
NOBODY = frozenset({"", "NOONE", "ANY"})


def claim_echo(
    engine: Engine,
    task_id: str,
    verb: str,
    now: datetime,
    *,
    value: Any = None,
    result_id: str | None = None,
    key: str | None = None,
) -> int | None:
    """The event id of our action this change is the echo of, now marked echoed; else None.

    `verb` and `value`: deadline (the new date), owner (the new owner's
    email; nobody as ""), close, reopen, tags (the tags after the change,
    or None), subtask (`result_id` the new task's id; `task_id` its parent;
    `value` its title), todo (`result_id` the comment's id; `value` its items).
    `key` identifies the echo itself: the same echo coming again (by webhook
    and by the event log) is known by it.
    """
    query = (
        select(
            ACTION.c.event_id,
            ACTION.c.params,
            ACTION.c.result_id,
            DELIVERY.c.status,
        )
        .select_from(ACTION.join(DELIVERY, DELIVERY.c.event_id == ACTION.c.event_id))
        .where(
            DELIVERY.c.channel == TRACKER_CHANNEL,
            DELIVERY.c.status != DeliveryStatus.FAILED.value,
            ACTION.c.echoed_at.is_(None),
            ACTION.c.task_id == task_id,
            ACTION.c.verb == verb,
        )
        .order_by(ACTION.c.event_id)
    )
    with write(engine) as connection:
        if key is not None:
            again = connection.execute(
                select(ACTION.c.event_id).where(ACTION.c.echo_key == key, ACTION.c.verb == verb)
            ).scalar()
            if again is not None:
                return int(again)
        if result_id is not None:
            known = connection.execute(
                select(ACTION.c.event_id).where(
                    ACTION.c.result_id == result_id, ACTION.c.verb == verb
                )
            ).scalar()
            if known is not None:
                connection.execute(
                    update(ACTION)
                    .where(ACTION.c.event_id == known, ACTION.c.echoed_at.is_(None))
                    .values(echoed_at=now, echo_key=key)
                )
                return int(known)
        for row in connection.execute(query).all():
            params = json.loads(row.params)
            if row.result_id is not None or not _same(verb, params, value):
                continue
            connection.execute(
                update(ACTION)
                .where(ACTION.c.event_id == row.event_id)
                .values(echoed_at=now, echo_key=key, result_id=result_id)
            )
            if row.status == DeliveryStatus.PENDING.value:
                # Sent, but the process stopped before recording it: never send it again.
                connection.execute(
                    update(DELIVERY)
                    .where(DELIVERY.c.event_id == row.event_id)
                    .values(
                        status=DeliveryStatus.DELIVERED.value,
                        delivered_at=now,
                        next_attempt_at=None,
                        channel_message_id=result_id,
                        updated_at=now,
                    )
                )
            return int(row.event_id)
    return None


def _same(verb: str, params: dict[str, Any], value: Any) -> bool:
    if verb == "deadline":
        return isinstance(value, date) and params.get("dateend") == value.strftime("%d.%m.%Y")
    if verb == "owner":
        sent = str(params.get("email_user_to", "")).lower()
        given = str(value or "").lower()
        return (sent.upper() in NOBODY and given.upper() in NOBODY) or sent == given
    if verb == "subtask":
        return str(params.get("title", "")).strip() == str(value or "").strip()
    if verb == "todo":
        return isinstance(value, Sequence) and [str(item) for item in value] == params.get("todo")
    if verb == "tags":
        if value is None:
            return True
        after = set(value)
        return set(params.get("plus", [])) <= after and not set(params.get("minus", [])) & after
    return True  # close, reopen: the change itself is the value
