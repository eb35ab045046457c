"""Sending the tracker actions: what is due, in order per task, and the outcomes.

The services (bots.worksection.actions) take `due_actions`, send each, then
record `mark_written` (with the id Worksection gave: the subtask's, the
checklist comment's), `put_off` for a transient failure (tried again
later, the later actions on its task with it), or `mark_refused` when
Worksection refuses it for good: the delivery fails with Worksection's message, which
the thread view shows, and its author is told on Telegram (a
`reply_failed` notification, once).

Order per task: an action waits while an earlier one on the same task is
still pending (put off after a failure, or held), so the changes reach
Worksection in the order they were made, even after an outage. An action
refused for good does not hold back the next ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, or_, select, update

from core.base.i18n import N_
from core.base.kinds import DeliveryStatus, NotificationKind
from core.notify.rules import _header, _row, insert_new
from core.store.db import write
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Client, Event, Thread
from core.store.models.tracker import TRACKER_CHANNEL, TrackerAction

DELIVERY, EVENT, THREAD, CLIENT = table(Delivery), table(Event), table(Thread), table(Client)
ACTION = table(TrackerAction)


@dataclass(frozen=True)
class ActionView:
    """A tracker action waiting to be sent."""

    event_id: int
    thread_id: int
    task_id: str
    verb: str
    params: dict[str, Any]
    attempts: int
    author_id: int | None
    author_email: str | None


def _pending(*columns: Any) -> Any:
    """The columns of each tracker change not written yet, oldest first."""
    return (
        select(*columns)
        .select_from(
            DELIVERY.join(ACTION, ACTION.c.event_id == DELIVERY.c.event_id).join(
                EVENT, EVENT.c.id == DELIVERY.c.event_id
            )
        )
        .where(
            DELIVERY.c.channel == TRACKER_CHANNEL,
            DELIVERY.c.status == DeliveryStatus.PENDING.value,
        )
        .order_by(DELIVERY.c.event_id)
    )


def due_actions(engine: Engine, now: datetime, limit: int = 20) -> list[ActionView]:
    """Pending actions to send now, oldest first, none ahead of an earlier one on its task."""
    query = _pending(
        DELIVERY.c.event_id,
        DELIVERY.c.thread_id,
        DELIVERY.c.next_attempt_at,
        DELIVERY.c.attempts,
        ACTION.c.task_id,
        ACTION.c.verb,
        ACTION.c.params,
        EVENT.c.staff_id,
        EVENT.c.author_email,
    )
    waiting: set[str] = set()
    due: list[ActionView] = []
    with engine.connect() as connection:
        for row in connection.execute(query):
            if row.task_id in waiting:
                continue
            if row.next_attempt_at is not None and _aware(row.next_attempt_at) > now:
                waiting.add(row.task_id)
                continue
            due.append(
                ActionView(
                    row.event_id,
                    row.thread_id,
                    row.task_id,
                    row.verb,
                    json.loads(row.params),
                    row.attempts,
                    row.staff_id,
                    row.author_email,
                )
            )
            if len(due) >= limit:
                break
    return due


def pending_actions(engine: Engine) -> list[dict[str, Any]]:
    """Every action not written yet (waiting or put off), oldest first."""
    query = _pending(
        DELIVERY.c.event_id,
        DELIVERY.c.thread_id,
        ACTION.c.task_id,
        ACTION.c.verb,
        ACTION.c.params,
        DELIVERY.c.attempts,
        DELIVERY.c.error,
        DELIVERY.c.next_attempt_at,
        EVENT.c.author_name,
    )
    with engine.connect() as connection:
        return [
            {**row._mapping, "params": json.loads(row.params)} for row in connection.execute(query)
        ]


def mark_written(engine: Engine, event_id: int, now: datetime, result_id: str | None) -> None:
    """Worksection took the action; `result_id` is what it gave back (a subtask's id...)."""
    with write(engine) as connection:
        connection.execute(
            update(DELIVERY)
            .where(DELIVERY.c.event_id == event_id)
            .values(
                status=DeliveryStatus.DELIVERED.value,
                attempts=DELIVERY.c.attempts + 1,
                delivered_at=now,
                next_attempt_at=None,
                channel_message_id=result_id,
                updated_at=now,
            )
        )
        if result_id is not None:
            connection.execute(
                update(ACTION).where(ACTION.c.event_id == event_id).values(result_id=result_id)
            )


def put_off(
    engine: Engine, event_id: int, task_id: str, now: datetime, error: str, retry_at: datetime
) -> None:
    """Worksection could not take the action now: try again at `retry_at`.

    The later pending actions on the same task wait as long (they would not
    go before it anyway): none of them looks due to a drain meanwhile.
    """
    later = (
        select(ACTION.c.event_id)
        .where(ACTION.c.task_id == task_id, ACTION.c.event_id > event_id)
        .scalar_subquery()
    )
    with write(engine) as connection:
        connection.execute(
            update(DELIVERY)
            .where(DELIVERY.c.event_id == event_id)
            .values(
                attempts=DELIVERY.c.attempts + 1,
                error=error,
                next_attempt_at=retry_at,
                updated_at=now,
            )
        )
        connection.execute(
            update(DELIVERY)
            .where(
                DELIVERY.c.event_id.in_(later),
                DELIVERY.c.status == DeliveryStatus.PENDING.value,
                or_(DELIVERY.c.next_attempt_at.is_(None), DELIVERY.c.next_attempt_at < retry_at),
            )
            .values(next_attempt_at=retry_at, updated_at=now)
        )


def mark_refused(engine: Engine, event_id: int, now: datetime, error: str) -> None:
    """Worksection refused the action for good: the delivery fails and its author is told."""
    with write(engine) as connection:
        connection.execute(
            update(DELIVERY)
            .where(DELIVERY.c.event_id == event_id)
            .values(
                status=DeliveryStatus.FAILED.value,
                attempts=DELIVERY.c.attempts + 1,
                error=error,
                next_attempt_at=None,
                updated_at=now,
            )
        )
        found = connection.execute(
            select(
                EVENT.c.staff_id,
                EVENT.c.thread_id,
                THREAD.c.title,
                CLIENT.c.name,
                ACTION.c.verb,
                ACTION.c.params,
            )
            .select_from(
                EVENT.join(THREAD, THREAD.c.id == EVENT.c.thread_id)
                .join(ACTION, ACTION.c.event_id == EVENT.c.id)
                .outerjoin(CLIENT, CLIENT.c.id == THREAD.c.client_id)
            )
            .where(EVENT.c.id == event_id)
        ).first()
        if found is None or found.staff_id is None:
            return
        body = (
            f"{_header(found.name, found.title)}\n"
            f"Worksection refused your change ({describe(found.verb, json.loads(found.params))}): "
            f"{error}"
        )
        insert_new(
            connection,
            [
                _row(
                    NotificationKind.REPLY_FAILED,
                    found.staff_id,
                    f"tracker_failed:{event_id}:{found.staff_id}",
                    body,
                    now,
                    thread_id=found.thread_id,
                    event_id=event_id,
                )
            ],
        )


# How an action is named: in English in its author's notification (as every
# notification is), in the interface's language on the command line.
_WORDS = {
    "deadline": N_("deadline {day}"),
    "todo": N_("checklist of {count}"),
    "subtask": N_("subtask {title}"),
    "owner": N_("owner {email}"),
    "nobody": N_("owner: nobody"),
    "tags": N_("tags {changes}"),
    "close": N_("close the task"),
    "reopen": N_("reopen the task"),
}


def describe(
    verb: str, params: dict[str, Any], translate: Callable[[str], str] = lambda words: words
) -> str:
    """An action in a few words: "deadline 12.12.2026", "tags +Urgent -Done"..."""
    if verb == "owner" and params.get("email_user_to") == "NOONE":
        verb = "nobody"
    words = _WORDS.get(verb)
    if words is None:
        return verb
    changes = [f"+{tag}" for tag in params.get("plus", [])]
    changes += [f"-{tag}" for tag in params.get("minus", [])]
    return translate(words).format(
        day=params.get("dateend"),
        count=len(params.get("todo", [])),
        title=repr(params.get("title")),
        email=params.get("email_user_to"),
        changes=" ".join(changes),
    )


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
