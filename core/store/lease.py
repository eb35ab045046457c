"""Who runs a database's background services: the lease row, taken, renewed and read.

One services instance per database (intake, scheduler, Telegram bot). The
process running them takes the `services` lease (`acquire`), renews it well
before it expires (`renew`), and gives it back when it stops (`release`);
the dashboard reads it to tell running here, run by another process,
failed (with the reason the holder reported), or stopped. A holder that
crashes loses the lease once `expires_at` passes, and the next process to
ask gets it.

Taking the lease is one conditional UPDATE (the row is ours, or has
lapsed), or an INSERT when there is no row yet: two processes racing for it
cannot both win, on SQLite or on PostgreSQL.

A holder that died on this host is recognised at once: the holder names
its host and process id (`default_holder`), and a lease whose holder is a
process of this host that no longer runs is taken without waiting for it
to lapse. A supervisor restarting `pmdesk serve` gets the services back
in the time the process takes to start. (A process id reused since by an
unrelated process, or a holder on another host, still makes the next
holder wait for `expires_at`.)

Fencing: the holder's name is also its fencing token. It is unique to one
process's hold of the lease (a random part, and a new one each time a
process takes the lease again after losing it), and `holds` tells, inside
the caller's transaction, whether that token still holds a live lease. The
services check it in the same statement as the row they are about to
send, just before each send (core.notify.drain.may_send): a holder that was
paused past its lease (SIGSTOP, a suspended machine, a frozen VM) and
taken over finds, when it resumes, that it holds nothing, sends nothing,
and stops its services.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from core.store.reader import Reader, instant

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, Table

SERVICES = "services"
NAMES = ("intake", "scheduler", "bot")
RUNNING, FAILED = "running", "failed"
# Long enough to ride out a busy database, short enough that a crashed
# holder's services are taken over within a minute.
LEASE_TTL = timedelta(seconds=30)
# The key of the lease's services JSON under which the holder reports why
# services failed ({"intake": "cannot listen on …"}); the other keys are services.
FAILURES = "failures"


def default_holder() -> str:
    """Who holds the lease: this host and process, and a nonce (pids get reused)."""
    return f"{this_host()}:{os.getpid()}:{os.urandom(3).hex()}"


def this_host() -> str:
    """The host's name and, where the system tells them (Linux), its boot and its
    process-id namespace: two machines, or two containers, that share a host name
    do not share process ids, so neither may judge the other's processes dead."""
    parts = [socket.gethostname().replace(":", "-")]
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            parts.append(boot.read().strip()[:8])
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        pass
    return "/".join(parts)


def renamed(holder: str) -> str:
    """A new fencing token for the same process: `holder` with a new nonce.

    Taken when a process asks again for a lease it lost, so that its work
    from the lost hold can never pass for the new hold's.
    """
    return f"{holder.rsplit(':', 1)[0]}:{os.urandom(3).hex()}" if ":" in holder else holder


def same_process(one: str, other: str) -> bool:
    """Whether two holders' names are the same process's (under one token or another)."""
    if one == other:
        return True
    return ":" in one and one.rsplit(":", 1)[0] == other.rsplit(":", 1)[0]


def is_dead(holder: str, host: str | None = None) -> bool:
    """True when `holder` names a process of this host (`host`) that no longer runs.

    Holders that do not look like `default_holder`'s, or name another host,
    are never declared dead: only their lease's expiry frees it.
    """
    parts = holder.split(":")
    if len(parts) < 3 or not parts[1].isdigit():
        return False
    if parts[0] != (host or this_host()):
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # this very process: alive, whatever its other holders did
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's process runs with that id
    return False


def _lease() -> Table:
    # Imported here: the dashboard reads `services_seen` at start, which must
    # not pay for SQLAlchemy's ORM (see core.store).
    from core.store.models.system import Lease, table

    return table(Lease)


def acquire(
    engine: Engine,
    holder: str,
    services: Mapping[str, str],
    now: datetime,
    ttl: timedelta = LEASE_TTL,
    name: str = SERVICES,
    failures: Mapping[str, str] | None = None,
) -> bool:
    """Take the lease for `holder` until `now + ttl`; False while someone else holds it.

    Taking a lease one already holds renews it. `services`: each service's
    state ("running", "failed", or anything else: see `services_seen`);
    `failures`: why the failed ones failed, by service.
    """
    from sqlalchemy import insert, or_, select, update
    from sqlalchemy.exc import IntegrityError

    from core.store.db import write

    lease, values = _lease(), _values(services, now, ttl, failures)
    with write(engine) as connection:
        taken = connection.execute(
            update(lease)
            .where(
                lease.c.name == name,
                or_(lease.c.holder == holder, lease.c.expires_at <= now),
            )
            .values(holder=holder, acquired_at=now, **values)
        ).rowcount
        if not taken:
            current = connection.execute(
                select(lease.c.holder).where(lease.c.name == name)
            ).scalar_one_or_none()
            if current is not None and is_dead(current):
                # Our host's process that held it is gone (crashed, killed): take it now.
                taken = connection.execute(
                    update(lease)
                    .where(lease.c.name == name, lease.c.holder == current)
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
    failures: Mapping[str, str] | None = None,
) -> bool:
    """Extend `holder`'s lease to `now + ttl` and report `services` (and why those
    that failed did, `failures`); False if it was lost.

    A lease that lapsed but that nobody took since is still ours to renew.
    """
    from sqlalchemy import update

    from core.store.db import write

    lease = _lease()
    with write(engine) as connection:
        renewed = connection.execute(
            update(lease)
            .where(lease.c.name == name, lease.c.holder == holder)
            .values(**_values(services, now, ttl, failures))
        ).rowcount
    return bool(renewed)


def holds(connection: Connection, holder: str, now: datetime, name: str = SERVICES) -> bool:
    """Whether `holder` holds a live lease, read in the caller's transaction (fencing)."""
    from sqlalchemy import select

    lease = _lease()
    found = connection.execute(
        select(lease.c.holder).where(
            lease.c.name == name, lease.c.holder == holder, lease.c.expires_at > now
        )
    ).first()
    return found is not None


def release(engine: Engine, holder: str, name: str = SERVICES) -> bool:
    """Give the lease back (the services stop); False if `holder` did not hold it."""
    from sqlalchemy import delete

    from core.store.db import write

    lease = _lease()
    with write(engine) as connection:
        removed = connection.execute(
            delete(lease).where(lease.c.name == name, lease.c.holder == holder)
        ).rowcount
    return bool(removed)


def _values(
    services: Mapping[str, str],
    now: datetime,
    ttl: timedelta,
    failures: Mapping[str, str] | None = None,
) -> dict[str, object]:
    if ttl <= timedelta(0):
        raise ValueError("a lease must last some time")
    reported: dict[str, object] = dict(services)
    why = {
        name: reason for name, reason in (failures or {}).items() if services.get(name) == FAILED
    }
    if why:
        reported[FAILURES] = why
    return {
        "services": json.dumps(reported, sort_keys=True),
        "renewed_at": now,
        "expires_at": now + ttl,
    }


class ServicesSeen(NamedTuple):
    """The services as a reader of the lease sees them.

    `states`: each service as "running" (by the reader's own process),
    "elsewhere" (by another process), "failed" (wherever it runs) or
    "stopped" (not running, starting included); `failures`: why the failed
    ones failed, as their holder reported it (a reason may be missing).
    """

    states: dict[str, str]
    failures: dict[str, str]


def services_seen(
    reader: Reader, now: datetime, holder: str | None = None, names: Sequence[str] = NAMES
) -> ServicesSeen:
    """Each service of `names`, as the lease's holder last reported it; see ServicesSeen."""
    rows = reader.rows(
        "SELECT holder, services, expires_at FROM lease WHERE name = :name", {"name": SERVICES}
    )
    if not rows:
        return ServicesSeen(dict.fromkeys(names, "stopped"), {})
    owner, services, expires = rows[0]
    expires_at = instant(expires)
    if expires_at is None or expires_at <= now:
        # A crashed holder's lease has lapsed: nothing it said holds any more.
        return ServicesSeen(dict.fromkeys(names, "stopped"), {})
    reported = json.loads(services or "{}")
    here = holder is not None and same_process(owner, holder)
    states = {name: _seen(reported.get(name), here) for name in names}
    why = reported.get(FAILURES)
    failures = {
        name: str(why[name])
        for name in names
        if states[name] == FAILED and isinstance(why, dict) and name in why
    }
    return ServicesSeen(states, failures)


def _seen(reported: object, here: bool) -> str:
    if reported == FAILED:
        return FAILED
    if reported == RUNNING:
        return "running" if here else "elsewhere"
    return "stopped"
