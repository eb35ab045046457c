"""The services of a database: one holder of the lease, the bot running under it, `pmdesk serve`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, insert, select, update

from bots.services.runner import run_services
from core.base.instants import utc_now
from core.config.settings import HttpConfig, PolicyConfig, ReceivablesConfig, Settings
from core.conversations.ingest import Ingestor
from core.sla.policies import PolicyBook
from core.store.lease import acquire, services_seen
from core.store.models.receivables import Invoice, Reminder
from core.store.models.system import Lease, table
from core.store.models.threads import Client, Event
from core.store.models.time import TimeRow
from core.store.reader import EngineReader
from tests.bots.support import (
    TOKEN,
    SpeedClock,
    bot_settings,
    client_message,
    ingestor,
    notification_rows,
    team,
    until,
)
from tests.bots.worksection.accounts import ws_settings
from tests.conftest import round_the_clock_settings
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock, free_port

LEASE = table(Lease)
TTL = timedelta(seconds=0.6)  # renewed every 0.2 s
FAST_BOT = {"poll_interval": 0.01, "polling_timeout": 1}


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as server:
        yield server


def lease(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = connection.execute(select(LEASE)).first()
    if row is None:
        return None
    return {**row._mapping, "services": json.loads(row.services)}


def states(engine: Engine, holder: str | None = None) -> dict[str, str]:
    return services_seen(EngineReader(engine), utc_now(), holder).states


@asynccontextmanager
async def serving(
    settings: Settings, engine: Engine, holder: str, **options: Any
) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_services(
            settings, stop, engine=engine, holder=holder, ttl=TTL, telegram=FAST_BOT, **options
        )
    )
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


async def test_without_a_token_the_services_run_without_the_bot(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pmdesk.services")
    settings = round_the_clock_settings()

    async with serving(settings, engine, "here"):
        await until(
            lambda: (
                states(engine, "here")
                == {"intake": "running", "scheduler": "running"} | {"bot": "stopped"}
            ),
            what="the intake and the scheduler running",
        )
        held = lease(engine)

    assert held is not None and held["holder"] == "here"
    assert held["services"] == {"intake": "running", "scheduler": "running", "bot": "stopped"}
    assert "running without the bot" in caplog.text
    assert lease(engine) is None  # given back on the way out
    assert states(engine, "here") == dict.fromkeys(("intake", "scheduler", "bot"), "stopped")


async def test_the_bot_runs_under_the_lease_and_the_dashboard_sees_it(
    engine: Engine, fake: FakeTelegram
) -> None:
    async with serving(bot_settings(fake), engine, "here"):
        await until(lambda: set(states(engine, "here").values()) == {"running"}, what="all running")
        elsewhere = states(engine, "another process")

    assert elsewhere == dict.fromkeys(("intake", "scheduler", "bot"), "elsewhere")
    assert states(engine)["bot"] == "stopped"
    assert fake.calls("getMe")


async def test_a_second_process_waits_and_takes_over_when_the_first_stops(
    engine: Engine, fake: FakeTelegram
) -> None:
    settings = bot_settings(fake)
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    options: dict[str, Any] = {"engine": engine, "ttl": TTL, "telegram": FAST_BOT}
    first = asyncio.create_task(run_services(settings, first_stop, holder="first", **options))
    await until(lambda: states(engine, "first")["bot"] == "running")
    second = asyncio.create_task(run_services(settings, second_stop, holder="second", **options))

    await asyncio.sleep(0.5)  # two of its attempts and more
    waited = lease(engine)
    first_stop.set()
    await asyncio.wait_for(first, timeout=5)
    await until(lambda: states(engine, "second")["bot"] == "running", what="the takeover")
    second_stop.set()
    await asyncio.wait_for(second, timeout=5)

    assert waited is not None and waited["holder"] == "first"
    assert lease(engine) is None


async def test_the_lease_of_a_crashed_holder_is_taken_over_once_it_lapses(
    engine: Engine,
) -> None:
    # A holder that took the lease and died: it never renews nor gives it back.
    crashed_at = utc_now()
    running = dict.fromkeys(("intake", "scheduler"), "running")
    assert acquire(engine, "crashed", running, crashed_at, TTL)

    async with serving(round_the_clock_settings(), engine, "here"):
        await until(lambda: states(engine, "here")["scheduler"] == "running", what="taken over")
        taken_at = utc_now()
        held = lease(engine)

    assert held is not None and held["holder"] == "here"
    assert taken_at - crashed_at >= TTL  # not before the crashed holder's lease lapsed


async def test_a_refused_token_leaves_the_bot_off_and_the_rest_running(
    engine: Engine, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    settings = bot_settings(fake, telegram_token="999:WRONG")

    async with serving(settings, engine, "here"):
        await until(lambda: (lease(engine) or {}).get("services", {}).get("bot") == "failed")
        still = lease(engine)

    assert still is not None and still["holder"] == "here"
    assert states(engine)["bot"] == "stopped"
    assert "refused the bot's token" in caplog.text


async def test_a_lease_taken_over_stops_the_services(
    engine: Engine, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    settings = bot_settings(fake)
    team(engine, utc_now())
    async with serving(settings, engine, "here"):
        await until(lambda: states(engine, "here")["bot"] == "running")
        with engine.begin() as connection:  # as if "here" had stalled past its lease
            connection.execute(
                update(LEASE).values(holder="thief", expires_at=utc_now() + timedelta(hours=1))
            )
        await until(lambda: "taken over" in caplog.text, what="the loss noticed")
        ingestor(engine, settings, SpeedClock(1)).ingest([client_message("m1", utc_now())])
        await asyncio.sleep(0.3)

    assert fake.sent_messages() == []  # the outbox is the thief's to drain now
    assert lease(engine)["holder"] == "thief"  # type: ignore[index]


def test_pmdesk_serve_runs_until_interrupted(tmp_path: Path, engine: Engine) -> None:
    config = tmp_path / "pmdesk.toml"
    config.write_text('[policies.default]\ncalendar = "24/7"\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    env.update(PMDESK_DB=str(engine.url.database), PMDESK_CONFIG=str(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "pmdesk", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while lease(engine) is None:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "pmdesk serve did not take the lease"
            time.sleep(0.05)
        held = lease(engine)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, errors
    assert held is not None and held["services"]["bot"] == "stopped"
    assert "running without the bot" in errors
    assert "Traceback" not in errors
    assert lease(engine) is None


async def test_the_scheduler_under_the_lease_writes_alerts_at_their_second_and_the_reminders(
    engine: Engine,
) -> None:
    settings = round_the_clock_settings().model_copy(
        update={
            "policies": {
                "default": PolicyConfig(
                    calendar="24/7",
                    first_response_minutes=3 / 60,  # due 3 s after the message
                    warn_before_minutes=1.5 / 60,
                )
            },
            "clients": {},
            "receivables": ReceivablesConfig(run_at=dt_time(0, 0)),
        }
    )
    now = utc_now()
    team(engine, now)
    overdue_invoice(engine, "F-9", now.date() - timedelta(days=3), now)
    Ingestor(engine, PolicyBook(settings)).ingest([client_message("m-1", now)])

    async with serving(settings, engine, "here"):
        await until(lambda: reminders(engine) == ["F-9"], what="the reminders' run at start")
        await until(
            lambda: {"clock_warning", "clock_breach"} <= kinds(engine),
            timeout=8,
            what="the clock's warning and breach",
        )
    rows = [row for row in notification_rows(engine) if row["kind"].startswith("clock_")]
    breach = min(row["created_at"] for row in rows if row["kind"] == "clock_breach")
    assert breach - (now + timedelta(seconds=3)) < timedelta(seconds=1.5)


async def test_with_worksection_configured_its_webhook_is_served_its_changes_and_time_ingested(
    engine: Engine, clock: MovableClock
) -> None:
    port = free_port()
    account = FakeWorksection(now=clock, min_interval=0.005)
    with account.running():
        account.add_task("4211", "Homepage redesign")
        account.add_cost("701", "4211", "1:30", "2026-11-20")
        settings = ws_settings(account).model_copy(update={"http": HttpConfig(port=port)})
        item = account.client_comment("4211", "Any news?")
        async with serving(settings, engine, "here", clock=clock):
            base = f"http://127.0.0.1:{port}"
            await until(
                lambda: (
                    services_seen(EngineReader(engine), clock(), "here").states["intake"]
                    == "running"
                ),
                what="the intake listening",
            )
            async with httpx.AsyncClient(base_url=base) as http:
                refused = await http.post("/v1/worksection", json=[item])
                answer = await http.post(
                    "/v1/worksection", json=[item], auth=("worksection", "s3cret")
                )
                await until(lambda: message_count(engine) == 1, what="the comment ingested")
                await until(lambda: "get_events" in account.actions(), what="the event log polled")
                await until(lambda: time_rows(engine) == ["701"], what="the logged time copied")
                health = (await http.get("/healthz")).json()

    assert refused.status_code == 401
    assert (answer.status_code, answer.json()) == (200, {"status": "OK"})
    assert health["worksection_lag_seconds"] is not None
    # The connector and the time sync share one paced client.
    assert "rate" not in account.refused


async def test_with_log_own_time_the_services_log_each_ended_day_once(
    engine: Engine, clock: MovableClock
) -> None:
    from core.config.settings import TimeConfig
    from core.conversations.people import add_staff
    from core.time.recorder import add_screen_time
    from tests.support import make_event

    account = FakeWorksection(now=clock, min_interval=0.005)
    with account.running():
        account.add_task("4211", "Homepage redesign")
        settings = ws_settings(account).model_copy(
            update={"http": HttpConfig(port=free_port()), "time": TimeConfig(log_own_time=True)}
        )
        ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], clock())
        Ingestor(engine, PolicyBook(settings)).ingest(
            [make_event("ws-1", 0, task="4211", source="worksection")]
        )
        with engine.connect() as connection:
            thread = connection.execute(select(table(Event).c.thread_id)).scalar_one()
        yesterday = (clock() - timedelta(days=1)).date()
        add_screen_time(engine, ana, {(thread, yesterday): 25 * 60}, clock())
        for _ in range(2):  # started twice: logged once
            async with serving(settings, engine, "here", clock=clock):
                await until(lambda: len(account.added_costs) == 1, what="the day logged")
                await asyncio.sleep(0.3)
    [row] = account.added_costs
    assert (row["task"]["id"], row["time"], row["date"]) == ("4211", "0:25", str(yesterday))
    assert (row["user_from"]["email"], row["comment"]) == (
        "ana@agency.example",
        "account management (pmdesk)",
    )


def time_rows(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(table(TimeRow).c.id)).scalars())


def reminders(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        texts = connection.execute(select(table(Reminder).c.text)).scalars().all()
    return ["F-9" for text in texts if "F-9" in text]


def kinds(engine: Engine) -> set[str]:
    return {row["kind"] for row in notification_rows(engine)}


def message_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(
            connection.execute(
                select(table(Event).c.id).where(table(Event).c.kind == "message")
            ).all()
        )


def overdue_invoice(engine: Engine, number: str, due: date, at: datetime) -> None:
    with engine.begin() as connection:
        client = connection.execute(
            insert(table(Client)).values(name="Acme", created_at=at).returning(table(Client).c.id)
        ).scalar_one()
        connection.execute(
            insert(table(Invoice)).values(
                number=number,
                client_id=client,
                issued_on=due - timedelta(days=30),
                due_on=due,
                total_cents=120_000,
                created_at=at,
                updated_at=at,
            )
        )
