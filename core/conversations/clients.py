"""Clients: listing them and changing their SLA policy."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, func, select, update

from core.base.instants import Now, utc_now
from core.base.kinds import Actor, Outcome
from core.sla.clocks import ClockState, recompute_running
from core.sla.policies import PolicyBook
from core.store.audit import audit_row, write_audit
from core.store.db import write
from core.store.models.system import table
from core.store.models.threads import Client, Clock, Thread


class UnknownClient(LookupError):
    pass


@dataclass(frozen=True)
class ClientView:
    id: int
    name: str
    language: str
    policy: str | None
    threads: int
    running_clocks: int


def list_clients(engine: Engine) -> list[ClientView]:
    client, thread, clock = table(Client), table(Thread), table(Clock)
    threads = (
        select(func.count())
        .where(thread.c.client_id == client.c.id)
        .correlate(client)
        .scalar_subquery()
    )
    running = (
        select(func.count())
        .select_from(clock.join(thread, thread.c.id == clock.c.thread_id))
        .where(thread.c.client_id == client.c.id, clock.c.outcome == Outcome.RUNNING.value)
        .correlate(client)
        .scalar_subquery()
    )
    query = select(
        client.c.id,
        client.c.name,
        client.c.language,
        client.c.policy,
        threads.label("threads"),
        running.label("running_clocks"),
    ).order_by(client.c.name)
    with engine.connect() as connection:
        return [ClientView(**row._mapping) for row in connection.execute(query)]


def set_client_policy(
    engine: Engine,
    policies: PolicyBook,
    client_name: str,
    policy_name: str | None,
    actor: Actor,
    clock: Now = utc_now,
) -> int:
    """Give a client another policy; its running clocks get new due times.

    Returns how many running clocks were recomputed. Stopped clocks keep the
    outcome they had: changing a policy today does not rewrite last week.
    """
    if policy_name is not None and policy_name not in policies.names():
        known = ", ".join(policies.names())
        raise ValueError(f"unknown policy {policy_name!r} (configured: {known})")
    client, thread, clocks = table(Client), table(Thread), table(Clock)
    policy = policies.get(policy_name)
    with write(engine) as connection:
        row = connection.execute(
            select(client.c.id, client.c.policy).where(client.c.name == client_name)
        ).first()
        if row is None:
            raise UnknownClient(f"no client named {client_name!r}")
        connection.execute(update(client).where(client.c.id == row.id).values(policy=policy_name))
        running = [
            ClockState.from_row(found)
            for found in connection.execute(
                select(clocks)
                .join(thread, thread.c.id == clocks.c.thread_id)
                .where(thread.c.client_id == row.id, clocks.c.outcome == Outcome.RUNNING.value)
            )
        ]
        recomputed = [recompute_running(state, policy) for state in running]
        if recomputed:
            connection.execute(
                update(clocks)
                .where(clocks.c.id == bindparam("_id"))
                .values(
                    policy=bindparam("policy"),
                    due_at=bindparam("due_at"),
                    warn_at=bindparam("warn_at"),
                    escalate_at=bindparam("escalate_at"),
                ),
                [
                    {
                        "_id": state.id,
                        "policy": state.policy,
                        "due_at": state.due_at,
                        "warn_at": state.warn_at,
                        "escalate_at": state.escalate_at,
                    }
                    for state in recomputed
                ],
            )
        detail = {"from": row.policy, "to": policy_name, "recomputed": len(recomputed)}
        entry = audit_row(clock(), actor, "set_policy", "client", row.id, detail)
        write_audit(connection, [entry])
    return len(recomputed)
