"""The outbox: what staff are told on Telegram, and replies on their way to clients.

Notifications are rows written by the domain in the same transaction as the
change that causes them; the Telegram bot drains them. Who is told what:

- **client_message**: a public client message on a thread (written through
  `core.conversations.ingest.Ingestor`) goes to each active assignee of the thread, or,
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
passed (`bots.services.scheduler` calls it, through `core.sla.alerts.fire`, for the
clocks whose instant has just come; a loop every few seconds will do too).
A stage whose instant is older than `ALERT_HORIZON` is history and is not
announced, so a database left without services for a long time, or an
import of old clocks, does not flood anyone's phone.

Every notification has a `dedupe_key` ("breach:{clock}:{staff}", ...) that
the table keeps unique, and alerts are inserted with ON CONFLICT DO NOTHING:
however many processes call `notify_clocks`, each alert exists once.

The assistant on duty is the active staff member with the role assistant
registered first (lowest id).

Muting (`core.conversations.people.mute`) holds notifications: while a recipient's
`muted_until` is in the future, `due_notifications` leaves their rows
pending and unreturned; they come out, in order, once the mute ends (or at
once when it is lifted). Nothing is skipped by a mute.

The bot's cycle: `due_notifications(engine, now, limit)`, then for each row
`mark_sent`, `mark_retry` (a temporary error; attempts counted), `mark_failed`
(gave up) or `mark_skipped` (e.g. the recipient has no Telegram account
bound: `telegram_id` is None). `notification_for_message` finds what a quick
reply answers.

Replies (`Delivery` rows, queued by `core.conversations.actions.reply`) are sent by the
services: `due_deliveries`, then `mark_delivered` or `mark_delivery_failed`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    or_,
    select,
)

from core.base.kinds import NotificationKind, NotificationStatus, Outcome, StaffRole
from core.base.text import clip
from core.store.db import chunks, insert_many, plain_rows, write
from core.store.models.outbox import Delivery, Notification
from core.store.models.staff import Staff
from core.store.models.system import table
from core.store.models.threads import Assignment, Client, Clock, Event, Thread, ThreadRef
from core.store.reader import Reader, instant

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
_RUNNING = Outcome.RUNNING.value


# -- client messages (called by ingestion, inside its transaction) -----------


class Message(NamedTuple):
    """What a client message's notification says: its thread, author, text, title, client."""

    event_id: int
    thread_id: int
    author: str | None
    text: str | None
    title: str
    client: str | None


def queue_message_notifications(
    connection: Connection,
    waiting: Sequence[tuple[int, int]],
    now: datetime,
    known: Mapping[int, Message] | None = None,
) -> int:
    """Notify the client messages `waiting` as (event id, id of the clock they wait on).

    Ingestion decides which messages wait (see the module's docstring) and
    calls this in its transaction, once per batch. `known`: the messages it
    can describe itself, by event id (the others are read). Returns the rows
    written.
    """
    if not waiting:
        return 0
    clock_of = dict(waiting)
    known = known or {}
    messages: list[Any] = [known[event_id] for event_id in clock_of if event_id in known]
    for chunk in chunks(sorted(event for event in clock_of if event not in known)):
        messages += connection.execute(_WAITING_MESSAGES, {"ids": list(chunk)}).all()
    assignees = _assignees(connection, {message.thread_id for message in messages})
    on_duty = None
    if any(not assignees.get(message.thread_id) for message in messages):
        on_duty = assistant_on_duty(connection)
    rows = []
    for event_id, thread_id, author, said, title, client in sorted(messages, key=itemgetter(0)):
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

    `reader`: `core.store.connect.reader_for(...)`, or `EngineReader(engine)`. New
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
    managers = active_with_role(connection, StaffRole.MANAGER)
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


# -- invoices (called by core.receivables.dunning, inside its transaction) ----------------

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


# Not a NotificationKind either: a template applied by itself to a new project.
PROJECT_STARTED = "project_started"


def queue_assistant_notice(
    connection: Connection, kind: str, dedupe_key: str, body: str, now: datetime
) -> int:
    """Tell the assistant on duty something once (`dedupe_key`); 0 without an assistant."""
    recipient = assistant_on_duty(connection)
    if recipient is None:
        return 0
    row = _row(NotificationKind.CLIENT_MESSAGE, recipient, dedupe_key, body, now)
    return insert_new(connection, [{**row, "kind": kind, "invoice_id": None}])


# -- shared -------------------------------------------------------------------


def _assignees(connection: Connection, thread_ids: set[int]) -> dict[int, list[int]]:
    """The active assignees of each thread, by staff id."""
    found: dict[int, list[int]] = defaultdict(list)
    sqlite = connection.dialect.name == "sqlite"
    for chunk in chunks(sorted(thread_ids)):
        rows = (
            plain_rows(connection, _sqlite_assignees(len(chunk)), chunk)
            if sqlite
            else connection.execute(_ASSIGNEES, {"ids": list(chunk)})
        )
        for thread_id, staff_id in rows:
            found[thread_id].append(staff_id)
    return found


def assistant_on_duty(connection: Connection) -> int | None:
    """The active assistant registered first; None when there is none."""
    assistants = active_with_role(connection, StaffRole.ASSISTANT)
    return assistants[0] if assistants else None


def active_with_role(connection: Connection, role: StaffRole) -> list[int]:
    if connection.dialect.name == "sqlite":
        return [staff_id for (staff_id,) in plain_rows(connection, _SQLITE_ACTIVE, (role.value,))]
    return list(connection.execute(_ACTIVE_WITH_ROLE, {"role": role.value}).scalars())


# The queries of every ingested batch, built once: building a statement and
# its cache key anew at each call cost more than running it. On SQLite, as
# plain SQL: SQLAlchemy's expanding IN and its result handling cost more
# than these queries themselves.
def _sqlite_assignees(count: int) -> str:
    return _SQLITE_ASSIGNEES.format(marks=", ".join("?" * count))


_SQLITE_ASSIGNEES = """
SELECT assignment.thread_id, assignment.staff_id
  FROM assignment JOIN staff ON staff.id = assignment.staff_id
 WHERE assignment.thread_id IN ({marks}) AND assignment.role = 'assignee'
   AND staff.active IS 1
 ORDER BY assignment.thread_id, assignment.staff_id
"""
_SQLITE_ACTIVE = "SELECT id FROM staff WHERE role = ? AND active IS 1 ORDER BY id"
_WAITING_MESSAGES = (
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
    .where(EVENT.c.id.in_(bindparam("ids", expanding=True)))
)
_ASSIGNEES = (
    select(ASSIGNMENT.c.thread_id, ASSIGNMENT.c.staff_id)
    .join(STAFF, STAFF.c.id == ASSIGNMENT.c.staff_id)
    .where(
        ASSIGNMENT.c.thread_id.in_(bindparam("ids", expanding=True)),
        ASSIGNMENT.c.role == "assignee",
        STAFF.c.active.is_(True),
    )
    .order_by(ASSIGNMENT.c.thread_id, ASSIGNMENT.c.staff_id)
)
_ACTIVE_WITH_ROLE = (
    select(STAFF.c.id)
    .where(and_(STAFF.c.role == bindparam("role"), STAFF.c.active.is_(True)))
    .order_by(STAFF.c.id)
)


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
    """Insert the rows whose dedupe_key is new (ON CONFLICT DO NOTHING: concurrent writers
    never duplicate); returns how many were."""
    return insert_many(connection, NOTIFICATION, rows, unless_known="dedupe_key")


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
