"""The outbox: what staff are told on Telegram, and replies on their way to clients.

Notifications are rows written by the domain in the same transaction as the
change that causes them; the Telegram bot drains them. Who is told what:

- **client_message**: a public client message on a thread (written through
  `core.ingest.Ingestor`) goes to each active assignee of the thread, or,
  when it has none, to the assistant on duty. Only messages still waiting
  for an answer once their batch is stored, and written within
  `ALERT_HORIZON` of their ingestion, notify: an import of history, or a
  message answered in the same batch, tells no one.
- **clock_warning**, **clock_breach**: a running clock whose warning or due
  instant has passed goes to its thread's active assignees and the assistant
  on duty (once each, even when they are the same person). Only the most
  severe stage reached is sent: a clock found already due gets no warning.
- **clock_escalation**: a running clock past its escalation instant goes to
  every active manager.
- **reply_failed**: a reply that cannot be delivered for good goes to its
  author (`mark_delivery_failed`).

Clock alerts are timed: `notify_clocks` writes those whose instant has
passed (`bots.scheduler` calls it, through `core.alerts.fire`, for the
clocks whose instant has just come; a loop every few seconds will do too).
A stage whose instant is older than `ALERT_HORIZON` is history and is not
announced, so a database left without services for a long time, or an
import of old clocks, does not flood anyone's phone.

Every notification has a `dedupe_key` ("breach:{clock}:{staff}", ...) that
the table keeps unique, and alerts are inserted with ON CONFLICT DO NOTHING:
however many processes call `notify_clocks`, each alert exists once.

The assistant on duty is the active staff member with the role assistant
registered first (lowest id).

Muting (`core.staff.mute`) holds notifications: while a recipient's
`muted_until` is in the future, `due_notifications` leaves their rows
pending and unreturned; they come out, in order, once the mute ends (or at
once when it is lifted). Nothing is skipped by a mute.

The bot's cycle: `due_notifications(engine, now, limit)`, then for each row
`mark_sent`, `mark_retry` (a temporary error; attempts counted), `mark_failed`
(gave up) or `mark_skipped` (e.g. the recipient has no Telegram account
bound: `telegram_id` is None). `notification_for_message` finds what a quick
reply answers.

Replies (`Delivery` rows, queued by `core.actions.reply`) are sent by the
services: `due_deliveries`, then `mark_delivered` or `mark_delivery_failed`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Select,
    and_,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from .db import chunks, write
from .kinds import DeliveryStatus, NotificationKind, NotificationStatus, Outcome, StaffRole
from .lease import holds
from .models import (
    Assignment,
    Client,
    Clock,
    Delivery,
    Event,
    Notification,
    Staff,
    Thread,
    ThreadRef,
    table,
)
from .reader import Reader, instant
from .text import clip

# How far back an alert is still news (see the module's docstring).
ALERT_HORIZON = timedelta(hours=24)
# Room for the header within Telegram's 4,096 characters, escaping included.
TEXT_LIMIT = 3000
# How much of the client's message a clock alert quotes.
EXCERPT_LIMIT = 300

NOTIFICATION, DELIVERY, STAFF, ASSIGNMENT = (
    table(Notification),
    table(Delivery),
    table(Staff),
    table(Assignment),
)
THREAD, CLIENT, CLOCK, EVENT, REFS = (
    table(Thread),
    table(Client),
    table(Clock),
    table(Event),
    table(ThreadRef),
)
# The partial index's own condition, word for word: its use by the planner
# (ix_notification_pending) then does not depend on how values are bound.
_PENDING = text("notification.status = 'pending'")
_RUNNING = Outcome.RUNNING.value


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
    (see core.lease, fencing). `holder` None: no lease to check (a bot run
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


# -- client messages (called by ingestion, inside its transaction) -----------


def queue_message_notifications(
    connection: Connection, waiting: Sequence[tuple[int, int]], now: datetime
) -> int:
    """Notify the client messages `waiting` as (event id, id of the clock they wait on).

    Ingestion decides which messages wait (see the module's docstring) and
    calls this in its transaction, once per batch. Returns the rows written.
    """
    if not waiting:
        return 0
    clock_of = dict(waiting)
    messages: list[Any] = []
    for chunk in chunks(sorted(clock_of)):
        messages += connection.execute(
            select(
                EVENT.c.id,
                EVENT.c.thread_id,
                EVENT.c.author_name,
                EVENT.c.text,
                THREAD.c.title,
                CLIENT.c.name,
            )
            .select_from(
                EVENT.join(THREAD, THREAD.c.id == EVENT.c.thread_id).outerjoin(
                    CLIENT, CLIENT.c.id == THREAD.c.client_id
                )
            )
            .where(EVENT.c.id.in_(chunk))
        ).all()
    assignees = _assignees(connection, {message.thread_id for message in messages})
    on_duty = None
    if any(not assignees.get(message.thread_id) for message in messages):
        on_duty = assistant_on_duty(connection)
    rows = []
    for event_id, thread_id, author, said, title, client in sorted(messages):
        header = _header(client, title)
        for staff_id in assignees.get(thread_id) or _present([on_duty]):
            rows.append(
                _row(
                    NotificationKind.CLIENT_MESSAGE,
                    staff_id,
                    f"message:{event_id}:{staff_id}",
                    f"{header}\n{author or 'Client'}: {said}",
                    now,
                    thread_id=thread_id,
                    clock_id=clock_of[event_id],
                    event_id=event_id,
                )
            )
    return insert_new(connection, rows)


# -- clock alerts -------------------------------------------------------------


def notify_clocks(
    engine: Engine,
    now: datetime,
    horizon: timedelta = ALERT_HORIZON,
    *,
    clocks: Collection[int] | None = None,
) -> int:
    """Write the warnings, breaches and escalations due by `now`; returns how many.

    `clocks`: only those clocks (the ones whose instant a scheduler just
    reached), instead of every running clock; rows for the batch are
    written in one transaction.

    Idempotent: an alert already written is not written again, so any
    number of callers, at any pace, write each alert once. Reads first and
    only takes the write lock when something is new.
    """
    with engine.connect() as connection:
        rows = _clock_alerts(connection, now, now - horizon, clocks)
        known = _known_keys(connection, [row["dedupe_key"] for row in rows])
    fresh = [row for row in rows if row["dedupe_key"] not in known]
    if not fresh:
        return 0
    with write(engine) as connection:
        return insert_new(connection, fresh)


_NEXT_ALERT = """
SELECT min(at) FROM (
  SELECT min(warn_at) AS at FROM clock WHERE outcome = 'running' AND warn_at > :now
  UNION ALL
  SELECT min(due_at) FROM clock WHERE outcome = 'running' AND due_at > :now
  UNION ALL
  SELECT min(escalate_at) FROM clock WHERE outcome = 'running' AND escalate_at > :now
) AS stages
"""


def next_clock_alert_at(reader: Reader, now: datetime) -> datetime | None:
    """When `notify_clocks` will next have something to write, as things stand; None if never.

    `reader`: `core.reader.reader_for(...)`, or `EngineReader(engine)`. New
    events change the answer: ask again after ingesting.
    """
    [(at,)] = reader.rows(_NEXT_ALERT, {"now": now})
    return instant(at)


def _clock_alerts(
    connection: Connection,
    now: datetime,
    since: datetime,
    only: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Rows for every alert due by `now` whose instant is not older than `since`.

    `only`: the clocks to consider, by id (all running clocks when None).
    """
    query = (
        select(
            CLOCK.c.id,
            CLOCK.c.thread_id,
            CLOCK.c.warn_at,
            CLOCK.c.due_at,
            CLOCK.c.escalate_at,
            THREAD.c.title,
            CLIENT.c.name.label("client"),
            EVENT.c.author_name,
            EVENT.c.text,
        )
        .select_from(
            CLOCK.join(THREAD, THREAD.c.id == CLOCK.c.thread_id)
            .outerjoin(CLIENT, CLIENT.c.id == THREAD.c.client_id)
            .join(EVENT, EVENT.c.id == CLOCK.c.opened_by)
        )
        .where(
            CLOCK.c.outcome == _RUNNING,
            or_(CLOCK.c.warn_at <= now, CLOCK.c.escalate_at <= now),
            # The warning comes before the due time, so these cover every stage.
            or_(CLOCK.c.due_at >= since, CLOCK.c.escalate_at >= since),
        )
        .order_by(CLOCK.c.id)
    )
    if only is None:
        clocks = list(connection.execute(query))
    else:
        clocks = []
        for chunk in chunks(sorted(set(only))):
            clocks += connection.execute(query.where(CLOCK.c.id.in_(chunk))).all()
        clocks.sort(key=lambda clock: clock.id)
    if not clocks:
        return []
    assignees = _assignees(connection, {clock.thread_id for clock in clocks})
    on_duty = _present([assistant_on_duty(connection)])
    managers = _active_with_role(connection, StaffRole.MANAGER)
    rows = []
    for clock in clocks:
        header = _header(clock.client, clock.title)
        quote = f"{clock.author_name or 'Client'} wrote: {clip(clock.text, EXCERPT_LIMIT)}"
        alerts: list[tuple[NotificationKind, Iterable[int]]] = []
        stage = _stage(clock, now)
        if stage is not None and stage[1] >= since:
            # Assignees and the assistant on duty, each once.
            told = dict.fromkeys([*assignees.get(clock.thread_id, []), *on_duty])
            alerts.append((stage[0], told))
        if since <= clock.escalate_at <= now:
            alerts.append((NotificationKind.CLOCK_ESCALATION, managers))
        for kind, recipients in alerts:
            for staff_id in recipients:
                rows.append(
                    _row(
                        kind,
                        staff_id,
                        f"{_KEY_PREFIX[kind]}:{clock.id}:{staff_id}",
                        f"{header}\n{_ALERT_LINE[kind]} {quote}",
                        now,
                        thread_id=clock.thread_id,
                        clock_id=clock.id,
                    )
                )
    return rows


def _stage(clock: Any, now: datetime) -> tuple[NotificationKind, datetime] | None:
    """The most severe of warning and breach that `clock` has reached, with its instant."""
    if clock.due_at <= now:
        return NotificationKind.CLOCK_BREACH, clock.due_at
    if clock.warn_at <= now:
        return NotificationKind.CLOCK_WARNING, clock.warn_at
    return None


_KEY_PREFIX = {
    NotificationKind.CLOCK_WARNING: "warning",
    NotificationKind.CLOCK_BREACH: "breach",
    NotificationKind.CLOCK_ESCALATION: "escalation",
}
_ALERT_LINE = {
    NotificationKind.CLOCK_WARNING: "Reply due soon.",
    NotificationKind.CLOCK_BREACH: "Reply overdue.",
    NotificationKind.CLOCK_ESCALATION: "Escalation: still no reply.",
}


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


# -- invoices (called by core.dunning, inside its transaction) ----------------

# Not a NotificationKind: the bot shows any kind it does not know with a plain mark.
INVOICE_DUNNING = "invoice_dunning"


def queue_invoice_alert(
    connection: Connection, invoice_id: int, dedupe_key: str, body: str, now: datetime
) -> int:
    """Tell the assistant on duty about an invoice (a dunning level to act on).

    Returns 1 if a notification was written, 0 when there is no assistant or
    the same alert (`dedupe_key`) exists already.
    """
    recipient = assistant_on_duty(connection)
    if recipient is None:
        return 0
    row = _row(NotificationKind.CLIENT_MESSAGE, recipient, dedupe_key, body, now)
    return insert_new(connection, [{**row, "kind": INVOICE_DUNNING, "invoice_id": invoice_id}])


# -- shared -------------------------------------------------------------------


def _assignees(connection: Connection, thread_ids: set[int]) -> dict[int, list[int]]:
    """The active assignees of each thread, by staff id."""
    found: dict[int, list[int]] = defaultdict(list)
    for chunk in chunks(sorted(thread_ids)):
        query = (
            select(ASSIGNMENT.c.thread_id, ASSIGNMENT.c.staff_id)
            .join(STAFF, STAFF.c.id == ASSIGNMENT.c.staff_id)
            .where(
                ASSIGNMENT.c.thread_id.in_(chunk),
                ASSIGNMENT.c.role == "assignee",
                STAFF.c.active.is_(True),
            )
            .order_by(ASSIGNMENT.c.thread_id, ASSIGNMENT.c.staff_id)
        )
        for thread_id, staff_id in connection.execute(query):
            found[thread_id].append(staff_id)
    return found


def assistant_on_duty(connection: Connection) -> int | None:
    """The active assistant registered first; None when there is none."""
    assistants = _active_with_role(connection, StaffRole.ASSISTANT)
    return assistants[0] if assistants else None


def _active_with_role(connection: Connection, role: StaffRole) -> list[int]:
    query = (
        select(STAFF.c.id)
        .where(and_(STAFF.c.role == role.value, STAFF.c.active.is_(True)))
        .order_by(STAFF.c.id)
    )
    return list(connection.execute(query).scalars())


def _row(
    kind: NotificationKind,
    recipient_id: int,
    dedupe_key: str,
    body: str,
    now: datetime,
    *,
    thread_id: int | None = None,
    clock_id: int | None = None,
    event_id: int | None = None,
) -> dict[str, Any]:
    # Every row names every column: an executemany takes its columns from the first.
    return {
        "recipient_id": recipient_id,
        "kind": kind.value,
        "thread_id": thread_id,
        "clock_id": clock_id,
        "event_id": event_id,
        "text": clip(body, TEXT_LIMIT),
        "dedupe_key": dedupe_key,
        "status": NotificationStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def insert_new(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose dedupe_key is new; returns how many were."""
    if not rows:
        return 0
    return int(connection.execute(_insert_ignoring_known(connection), rows).rowcount)


def _insert_ignoring_known(connection: Connection) -> Insert:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING: concurrent writers never duplicate."""
    name = connection.dialect.name
    if name == "sqlite":
        return sqlite.insert(NOTIFICATION).on_conflict_do_nothing(index_elements=["dedupe_key"])
    if name == "postgresql":
        return postgresql.insert(NOTIFICATION).on_conflict_do_nothing(index_elements=["dedupe_key"])
    raise NotImplementedError(f"notifications need SQLite or PostgreSQL, not {name}")


def _known_keys(connection: Connection, keys: list[str]) -> set[str]:
    known: set[str] = set()
    for chunk in chunks(sorted(set(keys))):
        query = select(NOTIFICATION.c.dedupe_key).where(NOTIFICATION.c.dedupe_key.in_(chunk))
        known.update(connection.execute(query).scalars())
    return known


def _header(client: str | None, title: str) -> str:
    return f"{client} · {title}" if client else title


def _present(ids: Iterable[int | None]) -> list[int]:
    return [staff_id for staff_id in ids if staff_id is not None]
