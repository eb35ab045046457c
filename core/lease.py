"""Who runs a database's background services: the lease row, taken, renewed and read.

One services instance per database (intake, scheduler, Telegram bot). The
process running them takes the `services` lease (`acquire`), renews it well
before it expires (`renew`), and gives it back when it stops (`release`);
the dashboard reads it to tell running here, run by another process, or
stopped. A holder that crashes loses the lease once `expires_at` passes,
and the next process to ask gets it.

Taking the lease is one conditional UPDATE (the row is ours, or has
lapsed), or an INSERT when there is no row yet: two processes racing for it
cannot both win, on SQLite or on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .reader import Reader, instant

if TYPE_CHECKING:
    from sqlalchemy import Engine, Table

SERVICES = "services"
NAMES = ("intake", "scheduler", "bot")
# Long enough to ride out a busy database, short enough that a crashed
# holder's services are taken over within a minute.
LEASE_TTL = timedelta(seconds=30)


def default_holder() -> str:
    """Who holds the lease: this host and process, and a nonce (pids get reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _lease() -> Table:
    # Imported here: the dashboard reads `service_states` at start, which must
    # not pay for SQLAlchemy's ORM (see core.reader).
    from .models import Lease, table

    return table(Lease)


def acquire(
    engine: Engine,
    holder: str,
    services: Mapping[str, str],
    now: datetime,
    ttl: timedelta = LEASE_TTL,
    name: str = SERVICES,
) -> bool:
    """Take the lease for `holder` until `now + ttl`; False while someone else holds it.

    Taking a lease one already holds renews it. `services`: each service's
    state as "running" or anything else (see `service_states`).
    """
    from sqlalchemy import insert, or_, update
    from sqlalchemy.exc import IntegrityError

    from .db import write

    lease, values = _lease(), _values(services, now, ttl)
    with write(engine) as connection:
        taken = connection.execute(
            update(lease)
            .where(
                lease.c.name == name,
                or_(lease.c.holder == holder, lease.c.expires_at <= now),
            )
            .values(holder=holder, acquired_at=now, **values)
        ).rowcount
    if taken:
        return True
    try:
        with write(engine) as connection:
            connection.execute(
                insert(lease).values(name=name, holder=holder, acquired_at=now, **values)
            )
    except IntegrityError:  # the row exists: held by someone else
        return False
    return True


def renew(
    engine: Engine,
    holder: str,
    services: Mapping[str, str],
    now: datetime,
    ttl: timedelta = LEASE_TTL,
    name: str = SERVICES,
) -> bool:
    """Extend `holder`'s lease to `now + ttl` and report `services`; False if it was lost.

    A lease that lapsed but that nobody took since is still ours to renew.
    """
    from sqlalchemy import update

    from .db import write

    lease = _lease()
    with write(engine) as connection:
        renewed = connection.execute(
            update(lease)
            .where(lease.c.name == name, lease.c.holder == holder)
            .values(**_values(services, now, ttl))
        ).rowcount
    return bool(renewed)


def release(engine: Engine, holder: str, name: str = SERVICES) -> bool:
    """Give the lease back (the services stop); False if `holder` did not hold it."""
    from sqlalchemy import delete

    from .db import write

    lease = _lease()
    with write(engine) as connection:
        removed = connection.execute(
            delete(lease).where(lease.c.name == name, lease.c.holder == holder)
        ).rowcount
    return bool(removed)


def _values(services: Mapping[str, str], now: datetime, ttl: timedelta) -> dict[str, object]:
    if ttl <= timedelta(0):
        raise ValueError("a lease must last some time")
    return {
        "services": json.dumps(dict(services), sort_keys=True),
        "renewed_at": now,
        "expires_at": now + ttl,
    }


def service_states(
    reader: Reader, now: datetime, holder: str | None = None, names: Sequence[str] = NAMES
) -> dict[str, str]:
    """Each service of `names` as "running" (by `holder`, this process), "elsewhere"
    or "stopped"."""
    rows = reader.rows(
        "SELECT holder, services, expires_at FROM lease WHERE name = :name", {"name": SERVICES}
    )
    if not rows:
        return dict.fromkeys(names, "stopped")
    owner, services, expires = rows[0]
    expires_at = instant(expires)
    if expires_at is None or expires_at <= now:
        return dict.fromkeys(names, "stopped")  # a crashed holder's lease has lapsed
    reported = json.loads(services or "{}")
    here = holder is not None and owner == holder
    return {
        name: (
            "stopped"
            if reported.get(name, "stopped") != "running"
            else ("running" if here else "elsewhere")
        )
        for name in names
    }
