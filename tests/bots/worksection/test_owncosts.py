"""pmdesk's own measure logged back with add_costs, against the fake account over real HTTP:
once per day and thread, whatever happens in between."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from bots.worksection.api import WorksectionError
from bots.worksection.owncosts import deliver_own_costs, run_own_costs
from core.config.settings import TimeConfig
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.time.costs import own_costs, queue_own_costs
from core.time.own import OWN_COMMENT
from core.time.recorder import add_screen_time
from tests.bots.worksection.accounts import fast_client
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock, make_event

PARIS = ZoneInfo("Europe/Paris")
SAM = "sam@agency.example"
DAY = date(2026, 11, 16)
# The next morning, in Paris: the day has ended and settled.
NEXT_MORNING = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
LOGGING = TimeConfig(log_own_time=True)


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, users={SAM: "Sam Staff"})
    with fake.running():
        fake.add_task("4211", "Homepage")
        yield fake


@pytest.fixture
def measured(engine: Engine, ingestor: Ingestor, clock: MovableClock) -> dict[str, int]:
    """Sam's 10 minutes on task 4211 and 5 on task 9999 (unknown to Worksection) on DAY."""
    sam = add_staff(engine, "Sam Staff", "assistant", [SAM], clock())
    ingestor.ingest(
        [
            make_event("ws-1", 0, task="4211", source="worksection"),
            make_event("ws-2", 1, task="9999", source="worksection"),
        ]
    )
    with engine.connect() as connection:
        threads = dict(
            connection.execute(text("SELECT external_id, thread_id FROM threadref")).all()
        )
    batch = {(threads["4211"], DAY): 600.0, (threads["9999"], DAY): 300.0}
    add_screen_time(engine, sam, batch, datetime(2026, 11, 16, 15, tzinfo=UTC))
    clock.instant = NEXT_MORNING
    return {"sam": sam, **{task: int(thread) for task, thread in threads.items()}}


def added(account: FakeWorksection) -> list[tuple[str, str, str, str, str]]:
    return [
        (row["task"]["id"], row["time"], row["date"], row["user_from"]["email"], row["comment"])
        for row in account.added_costs
    ]


def add_calls(account: FakeWorksection) -> list[Any]:
    return [call for call in account.calls if call.action == "add_costs"]


def states(engine: Engine) -> dict[str, tuple[str, int, str | None]]:
    return {
        row["task_id"]: (row["status"], row["attempts"], row["cost_id"])
        for row in own_costs(engine)
    }


async def turn(engine: Engine, account: FakeWorksection, clock: MovableClock) -> int:
    """One turn of the services: queue the ended days, send what is due."""
    client = fast_client(account)
    try:
        queue_own_costs(engine, LOGGING, PARIS, clock())
        return await deliver_own_costs(engine, client, clock)
    finally:
        await client.aclose()


async def test_a_day_is_logged_once_on_the_threads_task_with_the_documented_parameters(
    engine: Engine, account: FakeWorksection, clock: MovableClock, measured: dict[str, int]
) -> None:
    assert await turn(engine, account, clock) == 1
    assert added(account) == [("4211", "0:10", "2026-11-16", SAM, OWN_COMMENT)]
    call = next(call for call in add_calls(account) if call.params["id_task"] == "4211")
    assert call.method == "POST"
    assert call.params["time"] == "0:10" and call.params["date"] == "16.11.2026"
    assert call.params["email_user_from"] == SAM and call.params["comment"] == OWN_COMMENT
    cost_id = account.added_costs[0]["id"]
    assert states(engine)["4211"] == ("delivered", 1, cost_id)
    # The unknown task is refused for good, and Sam is told once.
    assert states(engine)["9999"][0] == "failed"
    with engine.connect() as connection:
        told = connection.execute(
            text("SELECT recipient_id, text FROM notification WHERE kind = 'reply_failed'")
        ).all()
    assert [who for who, _ in told] == [measured["sam"]]
    assert "Task not found" in told[0][1]
    # Another turn the same day, or the next: nothing more goes out.
    clock.advance(hours=30)
    assert await turn(engine, account, clock) == 0
    assert len(add_calls(account)) == 2  # the one logged, the one refused: each once


async def test_the_services_run_twice_and_log_once(
    engine: Engine, account: FakeWorksection, clock: MovableClock, measured: dict[str, int]
) -> None:
    settings = ws_time_settings()
    for _ in range(2):  # stopped and started again: the rows say what was done
        stop = asyncio.Event()
        client = fast_client(account)
        try:
            task = asyncio.create_task(
                run_own_costs(settings, engine, stop, client, clock=clock, interval=0.05)
            )
            await until(lambda: states(engine).get("4211", ("",))[0] == "delivered")
            await asyncio.sleep(0.2)  # a few more turns
            stop.set()
            await asyncio.wait_for(task, 5)
        finally:
            await client.aclose()
    assert added(account) == [("4211", "0:10", "2026-11-16", SAM, OWN_COMMENT)]


async def test_an_outage_then_a_retry_logs_once(
    engine: Engine, account: FakeWorksection, clock: MovableClock, measured: dict[str, int]
) -> None:
    account.tasks["9999"] = dict(account.tasks["4211"], id="9999")  # both tasks known now
    account.fail("outage")
    assert await turn(engine, account, clock) == 1  # 4211 put off, 9999 logged
    assert states(engine)["4211"][:2] == ("pending", 1)
    assert await turn(engine, account, clock) == 0  # not due yet: put off 5 s
    clock.advance(seconds=6)
    assert await turn(engine, account, clock) == 1
    assert sorted(added(account)) == [
        ("4211", "0:10", "2026-11-16", SAM, OWN_COMMENT),
        ("9999", "0:05", "2026-11-16", SAM, OWN_COMMENT),
    ]
    assert states(engine)["4211"][:2] == ("delivered", 2)
    # The retry looked for the row first, found none, then logged it.
    actions = [call.action for call in account.calls]
    assert actions[-2:] == ["get_costs", "add_costs"]


async def test_an_answer_lost_after_the_row_was_made_is_found_not_sent_again(
    engine: Engine, account: FakeWorksection, clock: MovableClock, measured: dict[str, int]
) -> None:
    account.fail("lost")  # Worksection makes the row; its answer never arrives
    await turn(engine, account, clock)
    assert states(engine)["4211"][:2] == ("pending", 1)
    clock.advance(seconds=6)
    await turn(engine, account, clock)
    assert added(account) == [("4211", "0:10", "2026-11-16", SAM, OWN_COMMENT)]
    assert states(engine)["4211"] == ("delivered", 2, account.added_costs[0]["id"])
    assert [call.params["id_task"] for call in add_calls(account)] == ["4211", "9999"]


async def test_a_process_stopped_mid_call_does_not_log_twice(
    engine: Engine, account: FakeWorksection, clock: MovableClock, measured: dict[str, int]
) -> None:
    """Claimed, sent, and the process gone before it recorded the outcome."""
    from core.time.costs import claim_cost, due_own_costs

    queue_own_costs(engine, LOGGING, PARIS, clock())
    view = next(v for v in due_own_costs(engine, clock()) if v.task_id == "4211")
    assert claim_cost(engine, view, clock(), clock() + timedelta(seconds=5)) == "send"
    client = fast_client(account)
    try:
        await client.add_costs("4211", 10, SAM, comment=OWN_COMMENT, day=DAY)
    finally:
        await client.aclose()
    clock.advance(seconds=6)  # the restarted services
    await turn(engine, account, clock)
    assert added(account) == [("4211", "0:10", "2026-11-16", SAM, OWN_COMMENT)]
    assert states(engine)["4211"][0] == "delivered"


async def test_the_fake_checks_add_costs_as_the_api_documents_it(
    account: FakeWorksection,
) -> None:
    client = fast_client(account, attempts=1)
    try:
        refusals = []
        for params in (
            {"id_task": "4211", "time": "0:10"},  # the admin key must name the user
            {"id_task": "4211", "email_user_from": SAM},  # neither time nor money
            {"id_task": "4211", "time": "1:75", "email_user_from": SAM},
            {"id_task": "4211", "time": "0:10", "email_user_from": SAM, "date": "2026-11-16"},
            {"id_task": "4211", "time": "0:10", "email_user_from": "who@else.example"},
            {"id_task": "4211", "time": "0:10", "email_user_from": SAM, "minutes": "10"},
            {"id_task": "1", "time": "0:10", "email_user_from": SAM},
        ):
            with pytest.raises(WorksectionError) as refused:
                await client.call("add_costs", params, post=True)
            assert not refused.value.transient
            refusals.append(refused.value.message)
        assert [len(account.added_costs)] == [0]
        # Hours as decimals are taken too (0.15 h is 9 minutes).
        await client.call(
            "add_costs", {"id_task": "4211", "time": "0,15", "email_user_from": SAM}, post=True
        )
        with pytest.raises(ValueError):
            await client.add_costs("4211", 0, SAM)
    finally:
        await client.aclose()
    assert refusals[0] == "Worksection: Field email_user_from is required"
    assert account.added_costs[0]["time"] == "0:09"


def ws_time_settings() -> Any:
    from tests.conftest import round_the_clock_settings

    settings = round_the_clock_settings()
    return settings.model_copy(update={"time": LOGGING})


async def until(predicate: Callable[[], Any], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("never got there")
        await asyncio.sleep(0.02)
