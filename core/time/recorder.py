"""Writing pmdesk's own measure (core.time.own): the dashboard's batches, Telegram's actions.

Each call is one transaction that adds seconds to the (staff member,
thread, day) row (INSERT ... ON CONFLICT DO UPDATE), so that the dashboard
and the bot, in two processes, never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from core.config.settings import TimeConfig
from core.store.db import write
from core.store.models.system import table
from core.store.models.threads import Thread
from core.store.models.time import OwnTime

OWN, THREAD = table(OwnTime), table(Thread)

Batch = Mapping[tuple[int, date], float]


def add_screen_time(engine: Engine, staff_id: int, batch: Batch, now: datetime) -> int:
    """Add the dashboard's batch (seconds per thread and day) for `staff_id`; one transaction.

    Returns how many (thread, day) rows it touched. A thread gone meanwhile
    (deleted) is left out, so the rest of the batch is never lost with it.
    """
    rows = [
        _own(staff_id, thread_id, day, now, screen=round(seconds))
        for (thread_id, day), seconds in batch.items()
        if round(seconds) > 0
    ]
    if not rows:
        return 0
    with write(engine) as connection:
        return _add(connection, rows)


def count_telegram_action(
    engine: Engine,
    staff_id: int,
    thread_id: int,
    now: datetime,
    config: TimeConfig,
    zone: ZoneInfo,
    *,
    reply: bool,
) -> int:
    """Count one reply (`reply`) or one other action taken from Telegram on a thread.

    Its amount is `telegram_reply_minutes` or `telegram_action_minutes`; 0
    counts nothing. Returns the seconds counted.
    """
    minutes = config.telegram_reply_minutes if reply else config.telegram_action_minutes
    seconds = round(minutes * 60)
    if seconds <= 0:
        return 0
    row = _own(staff_id, thread_id, now.astimezone(zone).date(), now, telegram=seconds)
    with write(engine) as connection:
        _add(connection, [row])
    return seconds


def _own(
    staff_id: int, thread_id: int, day: date, now: datetime, *, screen: int = 0, telegram: int = 0
) -> dict[str, Any]:
    return {
        "staff_id": staff_id,
        "thread_id": thread_id,
        "day": day,
        "month": day.strftime("%Y-%m"),
        "screen_seconds": screen,
        "telegram_seconds": telegram,
        "telegram_actions": 1 if telegram else 0,
        "updated_at": now,
    }


def _add(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """Add the rows' seconds to the stored ones (INSERT ... ON CONFLICT DO UPDATE)."""
    threads = {row["thread_id"] for row in rows}
    known = set(connection.execute(select(THREAD.c.id).where(THREAD.c.id.in_(threads))).scalars())
    rows = [row for row in rows if row["thread_id"] in known]
    if not rows:
        return 0
    statement = dialect_insert(connection, OWN)
    added = {
        name: OWN.c[name] + statement.excluded[name]
        for name in ("screen_seconds", "telegram_seconds", "telegram_actions")
    }
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["staff_id", "thread_id", "day"],
            set_={**added, "updated_at": statement.excluded.updated_at},
        ),
        rows,
    )
    return len(rows)


def dialect_insert(connection: Connection, into: Table) -> Any:
    name = connection.dialect.name
    if name == "sqlite":
        return sqlite.insert(into)
    if name == "postgresql":
        return postgresql.insert(into)
    raise NotImplementedError(f"pmdesk's own measure needs SQLite or PostgreSQL, not {name}")
