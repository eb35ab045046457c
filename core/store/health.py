"""What the services' health check reads of the database: can it write, what waits, who runs.

`SELECT 1` answers while every write fails (the write lock held by another
process, a full disk, a read-only file), so the check tries a write: it
takes the write lock, changes a row to what it was, and rolls back, within
a short busy timeout of its own. A full disk lets that pass (nothing is
written back), which is why the intake also reports the outcome of its last
real write (bots.http.intake).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from core.store.db import BUSY_TIMEOUT_MS, write_refused
from core.store.models.outbox import Notification
from core.store.models.system import Lease, table

NOTIFICATION, LEASE = table(Notification), table(Lease)


def write_problem(engine: Engine, wait_ms: int = 1000) -> str | None:
    """Why a write would fail now, in one line; None when one would succeed.

    Waits at most `wait_ms` for the write lock.
    """
    probe = "UPDATE alembic_version SET version_num = version_num"
    try:
        with engine.connect() as connection:
            if engine.dialect.name != "sqlite":
                with connection.begin() as transaction:
                    connection.execute(text(probe))
                    transaction.rollback()
                return None
            # On the driver's connection: SQLAlchemy would begin a deferred
            # transaction of its own around the pragmas.
            raw = connection.connection.dbapi_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.execute(f"PRAGMA busy_timeout = {wait_ms}")
            try:
                raw.execute("BEGIN IMMEDIATE")
                try:
                    raw.execute(probe)
                finally:
                    raw.execute("ROLLBACK")
            finally:
                raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as error:
        return str(error).splitlines()[0]
    except DBAPIError as error:
        return str(error.orig).splitlines()[0] if error.orig else str(error)
    return None


def check_writable(engine: Engine) -> None:
    """Raise DatabaseError, in one line, if a write would fail now (see write_problem)."""
    problem = write_problem(engine)
    if problem is not None:
        raise write_refused(engine, problem)


@dataclass(frozen=True)
class Backlog:
    """Notifications not sent yet, and when the oldest of them was queued."""

    pending: int
    oldest_at: datetime | None


def outbox_backlog(connection: Connection) -> Backlog:
    count, oldest = connection.execute(_BACKLOG).one()
    return Backlog(int(count), oldest)


@dataclass(frozen=True)
class LeaseView:
    holder: str
    renewed_at: datetime
    expires_at: datetime


def services_lease(connection: Connection) -> LeaseView | None:
    """Who holds the services' lease, as its row says; None when no one does."""
    row = connection.execute(_LEASE).first()
    return None if row is None else LeaseView(row.holder, row.renewed_at, row.expires_at)


# Built once: the health check may be asked often, and while ingestion keeps the interpreter busy.
_BACKLOG = select(func.count(), func.min(NOTIFICATION.c.created_at)).where(
    NOTIFICATION.c.status == "pending"
)
_LEASE = select(LEASE.c.holder, LEASE.c.renewed_at, LEASE.c.expires_at).where(
    LEASE.c.name == "services"
)
