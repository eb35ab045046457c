"""Seeding a demo database: the team, the week of history, the invoices and their
reminders, replayed through the real dunning.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from core.config.settings import Settings
from core.conversations.clients import list_clients
from core.conversations.ingest import Ingestor
from core.demo.agency import _utc
from core.demo.history import history
from core.demo.scenario import Scenario, ScenarioError, load_scenario
from core.demo.statement import _register_team, seed_statement
from core.receivables.dunning import (
    SENT,
    local_today,
    mark_reminder,
    record_dispute,
    record_promise,
    run_dunning,
)
from core.store.db import insert_many, write
from core.store.models.receivables import Invoice
from core.store.models.system import table


def seed_demo(
    engine: Engine, settings: Settings, now: datetime, seed: int = 7, *, folder: Path
) -> int:
    """Register the team, ingest the week of history, add the invoices and the bank
    statement (written into `folder`); return how many events were created.

    The events go through the Ingestor, the same path as every source. A
    rejected demo event is a bug in this module or its data: it raises.
    """
    now = _utc(now)
    scenario = load_scenario()
    _register_team(engine, scenario, now)
    events = history(scenario, now, seed)
    ingestor = Ingestor.for_settings(engine, settings, clock=lambda: now)
    results = ingestor.ingest(events)
    for result in results:
        if result.status == "rejected":
            raise ScenarioError(f"demo event {events[result.position]['id']}: {result.reason}")
    seed_invoices(engine, settings, scenario, now, seed)
    seed_statement(engine, settings, folder, now)
    return sum(result.status == "created" for result in results)


# (days past due, share paid) of the demo's invoices, two per client: one in
# each aging bucket, invoices reaching a reminder level today (D+1, D+15,
# D+30), a partial payment, a promise (the 8th) and a dispute (the 9th). Their
# levels and next steps are not written here: the real dunning runs over
# their past days (see seed_invoices), so they say what the ladder says.
DEMO_INVOICES: tuple[tuple[int, float], ...] = (
    (-12, 0.0),
    (1, 0.0),
    (15, 0.4),
    (3, 0.0),
    (30, 0.0),
    (17, 0.4),
    (38, 0.0),
    (41, 0.0),
    (52, 0.0),
    (64, 0.0),
    (97, 0.0),
    (-4, 0.0),
)
PROMISED, DISPUTED = 8, 9
# Who the demo's history says sent the past reminders and recorded the rest.
DEMO_ACTOR = "demo"


def seed_invoices(
    engine: Engine, settings: Settings, scenario: Scenario, now: datetime, seed: int = 7
) -> int:
    """Invoices for the demo clients, due on both sides of today; returns how many.

    The reminders' daily run is replayed on each past day, its drafts
    recorded as sent that day, then run for today, whose drafts wait to be
    sent; the promise and the dispute are recorded as a person would.
    """
    rng = random.Random(seed)
    today = local_today(settings, now)
    clients = {client.name: client.id for client in list_clients(engine)}
    rows: list[dict[str, Any]] = []
    names = [account.name for account in scenario.clients for _ in range(2)]
    for number, (client, (days, paid)) in enumerate(
        zip(names, DEMO_INVOICES, strict=False), start=1
    ):
        if client not in clients:
            continue
        total = rng.randrange(80, 1200) * 1000 + rng.choice((0, 500))
        due = today - timedelta(days=days)
        rows.append(
            {
                "number": f"F-{today.year}-{number:04d}",
                "client_id": clients[client],
                "issued_on": due - timedelta(days=30),
                "due_on": due,
                "currency": "EUR",
                "total_cents": total,
                "paid_cents": int(total * paid),
                # Paid before the first reminder: not a payment that pauses them.
                "dunning_paid_cents": int(total * paid),
                "state": "open",
                "created_at": now,
                "updated_at": now,
            }
        )
    with write(engine) as connection:
        insert_many(connection, table(Invoice), rows)
    if rows:
        _replay_dunning(engine, settings, min(row["due_on"] for row in rows), today, now)
    numbers = [row["number"] for row in rows]
    if len(numbers) >= PROMISED:
        record_promise(
            engine, settings, numbers[PROMISED - 1], today + timedelta(days=5), DEMO_ACTOR, now,
            today=today,
        )  # fmt: skip
    if len(numbers) >= DISPUTED:
        record_dispute(
            engine, settings, numbers[DISPUTED - 1], "hours billed twice", DEMO_ACTOR, now
        )
    return len(rows)


def _replay_dunning(
    engine: Engine, settings: Settings, first: date, today: date, now: datetime
) -> None:
    """The reminders' daily runs from `first` to today, as if the services had run them."""
    zone = ZoneInfo(settings.timezone)
    day = first
    while day < today:
        at = min(datetime.combine(day, settings.receivables.run_at, tzinfo=zone), now)
        for reminder in run_dunning(engine, settings, day, at).reminders:
            mark_reminder(engine, reminder, SENT, DEMO_ACTOR, at + timedelta(minutes=30))
        day += timedelta(days=1)
    run_dunning(engine, settings, today, now)


__all__ = ["seed_demo", "seed_invoices"]
