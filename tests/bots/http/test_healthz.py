"""`GET /healthz` tells whether writes succeed, not only whether the database answers a read.

Real SQLite: the write lock held by another connection, a database opened
read-only, a database that may not grow (SQLITE_FULL), a backlog of
notifications, the services' lease.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, Engine, event, insert

from bots.http.intake import Health, create_app
from core.config.settings import Settings
from core.store.db import open_database
from core.store.lease import acquire
from core.store.models.outbox import Notification
from core.store.models.staff import Staff
from core.store.models.system import table
from tests.bots.http.test_intake import SECRET, body_of, serving, signed
from tests.conftest import round_the_clock_settings
from tests.support import START, MovableClock, make_event


@pytest.fixture
def intake_settings() -> Settings:
    return round_the_clock_settings().model_copy(update={"webhook_secret": SECRET})


@pytest.fixture
def lock_holder(engine: Engine) -> Iterator[sqlite3.Connection]:
    """Another process's connection, as it were, ready to take the write lock."""
    connection = sqlite3.connect(str(engine.url.database), isolation_level=None)
    yield connection
    connection.close()


async def test_healthz_reports_a_held_write_lock_as_503_and_recovers(
    intake_settings: Settings, engine: Engine, clock: MovableClock, lock_holder: sqlite3.Connection
) -> None:
    app = create_app(intake_settings, engine, clock=clock, health=Health())
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        lock_holder.execute("BEGIN IMMEDIATE")
        locked = await http.get("/healthz")
        lock_holder.execute("ROLLBACK")
        free = await http.get("/healthz")

    assert locked.status_code == 503
    body = locked.json()
    assert body["database"] == "ok"  # it reads; it cannot write
    assert body["writes"]["problem"] == "database is locked"
    assert body["problems"] == ["writes"]
    assert free.status_code == 200
    assert free.json()["writes"]["problem"] is None


async def test_healthz_reports_a_read_only_database_as_503(
    intake_settings: Settings, engine: Engine, clock: MovableClock
) -> None:
    path = engine.url.database
    read_only = open_database(f"sqlite:///file:{path}?mode=ro&uri=true")
    app = create_app(intake_settings, read_only, clock=clock, health=Health())
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        response = await http.get("/healthz")
    read_only.dispose()

    assert response.status_code == 503
    assert "readonly" in response.json()["writes"]["problem"]


async def test_healthz_reports_the_last_write_and_a_full_disk_as_503(
    intake_settings: Settings, tmp_path: Path, clock: MovableClock
) -> None:
    engine = open_database(str(tmp_path / "small.db"))
    cap = {"pages": 0}

    @event.listens_for(engine, "begin")
    def _cap(connection: Connection) -> None:
        connection.exec_driver_sql(f"PRAGMA max_page_count = {cap['pages'] or 4294967294}")

    app = create_app(intake_settings, engine, clock=clock, health=Health())
    big = [make_event(f"e{n}", n, task=f"T{n}", text="x" * 5000) for n in range(50)]
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        first = body_of(make_event("first", 0))
        await http.post("/v1/events", content=first, headers=signed(first, clock().timestamp()))
        clock.advance(seconds=30)
        fine = await http.get("/healthz")
        with engine.connect() as connection:
            cap["pages"] = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
        body = body_of(big)
        refused = await http.post(
            "/v1/events", content=body, headers=signed(body, clock().timestamp())
        )
        full = await http.get("/healthz")
        cap["pages"] = 0
        again = await http.post(
            "/v1/events", content=body, headers=signed(body, clock().timestamp())
        )
        recovered = await http.get("/healthz")
    engine.dispose()

    assert fine.status_code == 200
    assert fine.json()["writes"]["last"] == {
        "outcome": "ok",
        "at": (START).isoformat(),
        "age_seconds": 30.0,
        "error": None,
    }
    assert refused.status_code == 503
    assert full.status_code == 503
    last = full.json()["writes"]["last"]
    assert last["outcome"] == "failed" and "full" in last["error"]
    assert full.json()["problems"] == ["writes"]
    assert again.status_code == 200
    assert recovered.status_code == 200
    assert recovered.json()["writes"]["last"]["outcome"] == "ok"


async def test_healthz_reports_the_outbox_backlog_and_the_lease(
    intake_settings: Settings, engine: Engine, clock: MovableClock
) -> None:
    with engine.begin() as connection:
        staff = connection.execute(
            insert(table(Staff)).values(name="Sam", role="pm", active=True, created_at=START)
        ).inserted_primary_key[0]
        for n, minutes in enumerate((5, 2, 9)):
            connection.execute(
                insert(table(Notification)).values(
                    recipient_id=staff,
                    kind="message",
                    text="t",
                    dedupe_key=f"k{n}",
                    status="pending" if n < 2 else "sent",
                    created_at=START - timedelta(minutes=minutes),
                    updated_at=START,
                )
            )
    acquire(engine, "host:1234", {"intake": "running"}, START, timedelta(seconds=30))
    app = create_app(intake_settings, engine, clock=clock, health=Health())
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        response = await http.get("/healthz")

    body = response.json()
    assert body["outbox"] == {
        "pending": 2,
        "oldest_pending_at": (START - timedelta(minutes=5)).isoformat(),
        "oldest_pending_age_seconds": 300.0,
    }
    assert body["lease"] == {
        "holder": "host:1234",
        "renewed_at": START.isoformat(),
        "expires_at": (START + timedelta(seconds=30)).isoformat(),
        "expired": False,
    }
