"""pmdesk's own measure logged back to Worksection, a day at a time (core.time.own).

With `[time] log_own_time`, once a day has ended (and `SETTLE` more, for the
dashboard's last batch), `queue_own_costs` creates one `OwnCost` row per
thread, day and staff member; the services send each with `add_costs` on
the thread's task (bots.worksection.owncosts), as replies are sent: due
rows (`due_own_costs`), a claim just before the call that checks the
services lease and counts the try (`claim_cost`), then `mark_cost_logged`,
`put_cost_off` (a transient failure, tried again later) or
`mark_cost_refused` (for good: the row fails with Worksection's message and
its staff member is told on Telegram, once).

Never twice: the primary key (thread, day, staff member) makes one row,
ON CONFLICT DO NOTHING keeps two processes from making two, the claim keeps
two senders from sending it, and a row tried before (`attempts` above 0:
its answer may have been lost) is looked for in Worksection before it is
sent again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, case, func, select, update

from core.base.instants import as_date
from core.base.kinds import DeliveryStatus, NotificationKind
from core.config.settings import TimeConfig
from core.notify.rules import _header, _row, insert_new
from core.store.db import write
from core.store.lease import holds
from core.store.models.staff import StaffEmail
from core.store.models.system import table
from core.store.models.threads import Client, Thread, ThreadRef
from core.store.models.time import OwnCost, OwnTime
from core.time.own import SETTLE, TASK_SOURCE, minutes_of
from core.time.recorder import dialect_insert
from core.time.rows import hours_text

log = logging.getLogger("pmdesk.time")

OWN, COST = table(OwnTime), table(OwnCost)
THREAD, REFS, EMAILS, CLIENT = table(Thread), table(ThreadRef), table(StaffEmail), table(Client)


@dataclass(frozen=True)
class CostView:
    """A day of a thread's own measure waiting to be logged with `add_costs`."""

    thread_id: int
    day: date
    staff_id: int
    task_id: str
    email: str | None
    minutes: int
    attempts: int


def queue_own_costs(engine: Engine, config: TimeConfig, zone: ZoneInfo, now: datetime) -> int:
    """Create the `OwnCost` rows of the days ended (and settled) in the last `window_days`.

    One per thread, day and person with a minute or more, on threads that
    are Worksection tasks; never a second one (the primary key, ON CONFLICT
    DO NOTHING). A person with no email address cannot be named to
    Worksection: their row is created failed, with the reason, and logged.
    Returns how many rows were created. Nothing when `log_own_time` is off.
    """
    if not config.log_own_time:
        return 0
    last = (now - SETTLE).astimezone(zone).date() - timedelta(days=1)
    first = now.astimezone(zone).date() - timedelta(days=config.window_days)
    if last < first:
        return 0
    # Found by thread, the source told apart after (see core.time.own.own_rows).
    task = (
        select(func.min(case((REFS.c.source == TASK_SOURCE, REFS.c.external_id))))
        .where(REFS.c.thread_id == OWN.c.thread_id)
        .scalar_subquery()
    )
    email = (
        select(func.min(EMAILS.c.email)).where(EMAILS.c.staff_id == OWN.c.staff_id)
    ).scalar_subquery()
    seconds = OWN.c.screen_seconds + OWN.c.telegram_seconds
    query = (
        select(
            OWN.c.thread_id,
            OWN.c.day,
            OWN.c.staff_id,
            task.label("task_id"),
            email.label("email"),
            seconds.label("seconds"),
        )
        .select_from(
            OWN.outerjoin(
                COST,
                and_(
                    COST.c.thread_id == OWN.c.thread_id,
                    COST.c.day == OWN.c.day,
                    COST.c.staff_id == OWN.c.staff_id,
                ),
            )
        )
        .where(OWN.c.day >= first, OWN.c.day <= last, COST.c.thread_id.is_(None), seconds >= 30)
    )
    with write(engine) as connection:
        rows = []
        for row in connection.execute(query):
            if row.task_id is None:
                continue  # not a Worksection task: counted in the report only
            failed = row.email is None
            rows.append(
                {
                    "thread_id": row.thread_id,
                    "day": row.day,
                    "staff_id": row.staff_id,
                    "task_id": str(row.task_id),
                    "email": row.email,
                    "minutes": minutes_of(row.seconds),
                    "status": (DeliveryStatus.FAILED if failed else DeliveryStatus.PENDING).value,
                    "attempts": 0,
                    "error": "the staff member has no email address to log the time as"
                    if failed
                    else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if failed:
                log.warning(
                    "own time of staff %s on thread %s, %s, not logged to Worksection:"
                    " the staff member has no email address",
                    row.staff_id,
                    row.thread_id,
                    row.day,
                )
        if not rows:
            return 0
        statement = dialect_insert(connection, COST).on_conflict_do_nothing(
            index_elements=["thread_id", "day", "staff_id"]
        )
        connection.execute(statement, rows)
    return len(rows)


def due_own_costs(engine: Engine, now: datetime, limit: int = 20) -> list[CostView]:
    """Rows to send now (pending, not put off past `now`), oldest day first."""
    query = (
        select(
            COST.c.thread_id,
            COST.c.day,
            COST.c.staff_id,
            COST.c.task_id,
            COST.c.email,
            COST.c.minutes,
            COST.c.attempts,
        )
        .where(
            COST.c.status == DeliveryStatus.PENDING.value,
            (COST.c.next_attempt_at.is_(None)) | (COST.c.next_attempt_at <= now),
        )
        .order_by(COST.c.day, COST.c.thread_id, COST.c.staff_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [
            CostView(
                row.thread_id,
                as_date(row.day),
                row.staff_id,
                row.task_id,
                row.email,
                row.minutes,
                row.attempts,
            )
            for row in connection.execute(query)
        ]


def _key(view: CostView) -> Any:
    return and_(
        COST.c.thread_id == view.thread_id,
        COST.c.day == view.day,
        COST.c.staff_id == view.staff_id,
    )


def claim_cost(
    engine: Engine, view: CostView, now: datetime, retry_at: datetime, holder: str | None = None
) -> Literal["send", "done", "lost"]:
    """Just before sending: "send" (the try is counted, and put off to `retry_at` should
    the process stop before its outcome is recorded), "done" (no longer pending, or
    claimed by another sender), or "lost" (`holder` no longer holds the services lease).

    A row whose `attempts` is above 0 may have reached Worksection already
    (an answer lost, a process stopped mid-call): its sender looks for it
    with `get_costs` before sending it again.
    """
    with write(engine) as connection:
        if holder is not None and not holds(connection, holder, now):
            return "lost"
        claimed = connection.execute(
            update(COST)
            .where(
                _key(view),
                COST.c.status == DeliveryStatus.PENDING.value,
                # Not claimed by another sender meanwhile (its claim puts the row off).
                (COST.c.next_attempt_at.is_(None)) | (COST.c.next_attempt_at <= now),
            )
            .values(attempts=COST.c.attempts + 1, next_attempt_at=retry_at, updated_at=now)
        ).rowcount
    return "send" if claimed else "done"


def mark_cost_logged(engine: Engine, view: CostView, now: datetime, cost_id: str | None) -> None:
    """Worksection has the row of time (`cost_id`: the id it gave, when it said)."""
    with write(engine) as connection:
        connection.execute(
            update(COST)
            .where(_key(view))
            .values(
                status=DeliveryStatus.DELIVERED.value,
                delivered_at=now,
                next_attempt_at=None,
                error=None,
                cost_id=cost_id,
                updated_at=now,
            )
        )


def put_cost_off(
    engine: Engine, view: CostView, now: datetime, error: str, retry_at: datetime
) -> None:
    """Worksection could not take it now: tried again at `retry_at`."""
    with write(engine) as connection:
        connection.execute(
            update(COST)
            .where(_key(view), COST.c.status == DeliveryStatus.PENDING.value)
            .values(error=error, next_attempt_at=retry_at, updated_at=now)
        )


def mark_cost_refused(engine: Engine, view: CostView, now: datetime, error: str) -> None:
    """Worksection refused it for good: the row fails with the reason, and the person is told
    on Telegram (a `reply_failed` notification, once)."""
    with write(engine) as connection:
        connection.execute(
            update(COST)
            .where(_key(view))
            .values(
                status=DeliveryStatus.FAILED.value,
                error=error,
                next_attempt_at=None,
                updated_at=now,
            )
        )
        found = connection.execute(
            select(THREAD.c.title, CLIENT.c.name)
            .select_from(THREAD.outerjoin(CLIENT, CLIENT.c.id == THREAD.c.client_id))
            .where(THREAD.c.id == view.thread_id)
        ).first()
        if found is None:
            return
        body = (
            f"{_header(found.name, found.title)}\n"
            f"Worksection refused pmdesk's account-management time of {view.day.isoformat()}"
            f" ({hours_text(view.minutes)}): {error}"
        )
        insert_new(
            connection,
            [
                _row(
                    NotificationKind.REPLY_FAILED,
                    view.staff_id,
                    f"own_cost_failed:{view.thread_id}:{view.day.isoformat()}:{view.staff_id}",
                    body,
                    now,
                    thread_id=view.thread_id,
                )
            ],
        )


def own_costs(engine: Engine) -> list[dict[str, Any]]:
    """Every row logged back or to be logged, oldest day first."""
    query = select(COST).order_by(COST.c.day, COST.c.thread_id, COST.c.staff_id)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
