"""Draining the outbox: what is due to be sent, and its delivery state.

Who is told what is core.notify.rules. The bot's cycle:
`due_notifications(engine, now, limit)`, then for each row `mark_sent`,
`mark_retry` (a temporary error; attempts counted), `mark_failed` (gave up)
or `mark_skipped` (e.g. the recipient has no Telegram account bound).
`notification_for_message` finds what a quick reply answers. Replies
(`Delivery` rows) are sent by the services: `due_deliveries`, then
`mark_delivered` or `mark_delivery_failed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    func,
    or_,
    select,
    text,
    update,
)

from core.base.kinds import DeliveryStatus, NotificationKind, NotificationStatus
from core.base.text import clip
from core.notify.rules import (
    CLIENT,
    CLOCK,
    DELIVERY,
    EVENT,
    EXCERPT_LIMIT,
    NOTIFICATION,
    REFS,
    STAFF,
    THREAD,
    _header,
    _row,
    insert_new,
)
from core.store.db import write
from core.store.lease import holds

# The partial index's own condition, word for word: its use by the planner
# (ix_notification_pending) then does not depend on how values are bound.
_PENDING = text("notification.status = 'pending'")


class UnknownNotification(LookupError):
    pass


class UnknownDelivery(LookupError):
    pass


@dataclass(frozen=True)
class NotificationView:
    """A notification with what the bot needs to send it and to act on a reply to it."""

    id: int
    kind: str
    status: str
    # Plain text, untrusted parts as written: escape it for Telegram's parse mode.
    text: str
    attempts: int
    error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    recipient_id: int
    recipient_name: str
    recipient_role: str
    # None: the recipient has no Telegram account bound (skip the row).
    telegram_id: int | None
    thread_id: int | None
    thread_title: str | None
    thread_url: str | None
    # The source whose channel takes replies on the thread (worksection, telegram...).
    channel: str | None
    client_name: str | None
    client_language: str | None
    clock_id: int | None
    # The clock as it is now: an alert about a clock answered since may be moot.
    clock_outcome: str | None
    clock_due_at: datetime | None
    event_id: int | None
    invoice_id: int | None
    chat_id: int | None
    message_id: int | None


@dataclass(frozen=True)
class DeliveryView:
    """A reply waiting to go out through its thread's channel."""

    event_id: int
    thread_id: int
    channel: str
    # The thread's id in that channel: the chat id for Telegram, the task id for a tracker.
    target: str | None
    text: str
    author_id: int | None
    author_name: str | None
    attempts: int


# -- draining ---------------------------------------------------------------


def due_notifications(engine: Engine, now: datetime, limit: int = 50) -> list[NotificationView]:
    """Pending notifications to send now, oldest first.

    Leaves out rows waiting for a retry (`next_attempt_at` after `now`) and
    those of a muted recipient (held until the mute ends).
    """
    query = (
        _views()
        .where(
            _PENDING,
            or_(NOTIFICATION.c.next_attempt_at.is_(None), NOTIFICATION.c.next_attempt_at <= now),
            or_(STAFF.c.muted_until.is_(None), STAFF.c.muted_until <= now),
        )
        .order_by(NOTIFICATION.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [NotificationView(**row._mapping) for row in connection.execute(query)]


SendCheck = Literal["send", "done", "lost"]


def may_send(
    engine: Engine,
    what: Literal["notification", "delivery"],
    id: int,
    now: datetime,
    holder: str | None = None,
) -> SendCheck:
    """Just before sending a row: "send", "done" (no longer pending: sent or settled
    by someone else meanwhile), or "lost" (`holder` no longer holds the services lease).

    The row and the lease are read in one transaction: a holder that was
    paused and taken over cannot send what the new holder may have sent
    (see core.store.lease, fencing). `holder` None: no lease to check (a bot run
    on its own, in tests or benchmarks).
    """
    if what == "notification":
        status = select(NOTIFICATION.c.status).where(NOTIFICATION.c.id == id)
        pending = NotificationStatus.PENDING.value
    else:
        status = select(DELIVERY.c.status).where(DELIVERY.c.event_id == id)
        pending = DeliveryStatus.PENDING.value
    with engine.connect() as connection:
        if holder is not None and not holds(connection, holder, now):
            return "lost"
        return "send" if connection.execute(status).scalar_one_or_none() == pending else "done"


def notification_for_message(
    engine: Engine, chat_id: int, message_id: int
) -> NotificationView | None:
    """The notification sent as Telegram message (`chat_id`, `message_id`).

    What a quick reply answers: its thread is where the reply goes.
    """
    query = _views().where(
        NOTIFICATION.c.chat_id == chat_id, NOTIFICATION.c.message_id == message_id
    )
    with engine.connect() as connection:
        row = connection.execute(query.order_by(NOTIFICATION.c.id.desc()).limit(1)).first()
    return None if row is None else NotificationView(**row._mapping)


def pending_count(engine: Engine) -> int:
    """Notifications not sent yet, including those waiting for a retry or a mute's end."""
    query = select(func.count()).select_from(NOTIFICATION).where(_PENDING)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def mark_sent(engine: Engine, id: int, now: datetime, chat_id: int, message_id: int) -> None:
    """Sent as Telegram message (`chat_id`, `message_id`)."""
    _set(
        engine,
        id,
        now,
        status=NotificationStatus.SENT.value,
        attempts=NOTIFICATION.c.attempts + 1,
        sent_at=now,
        chat_id=chat_id,
        message_id=message_id,
    )


def mark_retry(engine: Engine, id: int, now: datetime, error: str, retry_at: datetime) -> None:
    """A temporary failure (Telegram's 429, a network error): try again at `retry_at`."""
    _set(
        engine,
        id,
        now,
        attempts=NOTIFICATION.c.attempts + 1,
        error=error,
        next_attempt_at=retry_at,
    )


def mark_failed(engine: Engine, id: int, now: datetime, error: str) -> None:
    """Given up on: the notification will not be sent; `error` says why."""
    _set(
        engine,
        id,
        now,
        status=NotificationStatus.FAILED.value,
        attempts=NOTIFICATION.c.attempts + 1,
        error=error,
    )


def mark_skipped(engine: Engine, id: int, now: datetime, reason: str) -> None:
    """Deliberately not sent (recipient not bound to Telegram...); `reason` is kept as `error`."""
    _set(engine, id, now, status=NotificationStatus.SKIPPED.value, error=reason)


def _set(engine: Engine, id: int, now: datetime, **values: Any) -> None:
    statement = update(NOTIFICATION).where(NOTIFICATION.c.id == id).values(updated_at=now, **values)
    with write(engine) as connection:
        if connection.execute(statement).rowcount == 0:
            raise UnknownNotification(f"no notification {id}")


def _views() -> Select[Any]:
    n, staff, thread, client, clock = NOTIFICATION, STAFF, THREAD, CLIENT, CLOCK
    return select(
        n.c.id,
        n.c.kind,
        n.c.status,
        n.c.text,
        n.c.attempts,
        n.c.error,
        n.c.next_attempt_at,
        n.c.created_at,
        n.c.recipient_id,
        staff.c.name.label("recipient_name"),
        staff.c.role.label("recipient_role"),
        staff.c.telegram_id,
        n.c.thread_id,
        thread.c.title.label("thread_title"),
        thread.c.url.label("thread_url"),
        thread.c.channel,
        client.c.name.label("client_name"),
        client.c.language.label("client_language"),
        n.c.clock_id,
        clock.c.outcome.label("clock_outcome"),
        clock.c.due_at.label("clock_due_at"),
        n.c.event_id,
        n.c.invoice_id,
        n.c.chat_id,
        n.c.message_id,
    ).select_from(
        n.join(staff, staff.c.id == n.c.recipient_id)
        .outerjoin(thread, thread.c.id == n.c.thread_id)
        .outerjoin(client, client.c.id == thread.c.client_id)
        .outerjoin(clock, clock.c.id == n.c.clock_id)
    )


# -- deliveries of replies ----------------------------------------------------


def due_deliveries(
    engine: Engine, now: datetime, limit: int = 50, channel: str | None = None
) -> list[DeliveryView]:
    """Pending replies to send now (retries once their time has come), oldest first.

    `channel` keeps only the replies going through that channel (each
    connector drains its own).
    """
    target = (
        select(func.min(REFS.c.external_id))
        .where(REFS.c.thread_id == DELIVERY.c.thread_id, REFS.c.source == DELIVERY.c.channel)
        .scalar_subquery()
    )
    query = (
        select(
            DELIVERY.c.event_id,
            DELIVERY.c.thread_id,
            DELIVERY.c.channel,
            target.label("target"),
            EVENT.c.text,
            EVENT.c.staff_id.label("author_id"),
            EVENT.c.author_name,
            DELIVERY.c.attempts,
        )
        .select_from(DELIVERY.join(EVENT, EVENT.c.id == DELIVERY.c.event_id))
        .where(
            DELIVERY.c.status == DeliveryStatus.PENDING.value,
            or_(DELIVERY.c.next_attempt_at.is_(None), DELIVERY.c.next_attempt_at <= now),
        )
        .order_by(DELIVERY.c.event_id)
        .limit(limit)
    )
    if channel is not None:
        query = query.where(DELIVERY.c.channel == channel)
    with engine.connect() as connection:
        return [DeliveryView(**row._mapping) for row in connection.execute(query)]


def mark_delivered(
    engine: Engine, event_id: int, now: datetime, channel_message_id: str | None
) -> None:
    """The reply of event `event_id` reached the client; the channel gave it that id."""
    with write(engine) as connection:
        _set_delivery(
            connection,
            event_id,
            now,
            status=DeliveryStatus.DELIVERED.value,
            attempts=DELIVERY.c.attempts + 1,
            delivered_at=now,
            next_attempt_at=None,
            channel_message_id=channel_message_id,
        )


def mark_delivery_failed(
    engine: Engine,
    event_id: int,
    now: datetime,
    error: str,
    permanent: bool,
    retry_at: datetime | None = None,
) -> None:
    """A delivery attempt failed: retry at `retry_at`, or, if `permanent`, give up.

    Giving up tells the reply's author (a reply_failed notification, once
    however often this is called), in the same transaction.
    """
    if not permanent and retry_at is None:
        raise ValueError("a temporary failure needs retry_at")
    status = DeliveryStatus.FAILED if permanent else DeliveryStatus.PENDING
    with write(engine) as connection:
        _set_delivery(
            connection,
            event_id,
            now,
            status=status.value,
            attempts=DELIVERY.c.attempts + 1,
            error=error,
            next_attempt_at=None if permanent else retry_at,
        )
        if permanent:
            _notify_reply_failed(connection, event_id, error, now)


def _set_delivery(connection: Connection, event_id: int, now: datetime, **values: Any) -> None:
    statement = (
        update(DELIVERY).where(DELIVERY.c.event_id == event_id).values(updated_at=now, **values)
    )
    if connection.execute(statement).rowcount == 0:
        raise UnknownDelivery(f"no delivery for event {event_id}")


def _notify_reply_failed(connection: Connection, event_id: int, error: str, now: datetime) -> None:
    reply = connection.execute(
        select(EVENT.c.staff_id, EVENT.c.thread_id, EVENT.c.text, THREAD.c.title, CLIENT.c.name)
        .select_from(
            EVENT.join(THREAD, THREAD.c.id == EVENT.c.thread_id).outerjoin(
                CLIENT, CLIENT.c.id == THREAD.c.client_id
            )
        )
        .where(EVENT.c.id == event_id)
    ).one()
    if reply.staff_id is None:
        return
    body = (
        f"{_header(reply.name, reply.title)}\n"
        f"Your reply could not be delivered: {error}\n{clip(reply.text, EXCERPT_LIMIT)}"
    )
    key = f"reply_failed:{event_id}:{reply.staff_id}"
    row = _row(
        NotificationKind.REPLY_FAILED,
        reply.staff_id,
        key,
        body,
        now,
        thread_id=reply.thread_id,
        event_id=event_id,
    )
    insert_new(connection, [row])
