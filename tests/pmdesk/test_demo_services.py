"""The demo's simulated clients, as a service: they take the replies, whatever a turn meets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from core.conversations.actions import reply
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.demo.scenario import load_scenario
from core.demo.simulator import Simulator
from pmdesk.dashboard import simulated_clients
from tests.support import START, MovableClock, make_event
from tests.tui.test_dashboard import rows


async def test_a_failed_turn_is_tried_again_and_the_reply_still_delivered(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.demo.simulator

    ana = add_staff(engine, "Ana Assistant", "assistant", ["ana@agency.example"], START)
    ingestor.ingest([make_event("m1", 0, task="T1")])
    thread_id = rows(engine, "SELECT id FROM thread")[0][0]
    reply(ingestor, thread_id, ana, "On it.", clock=clock)
    real = core.demo.simulator.deliver_to_simulated_clients
    turns: list[Any] = []

    def locked_once(*args: Any) -> Any:
        turns.append(args)
        if len(turns) == 1:
            raise OperationalError("UPDATE delivery", {}, Exception("database is locked"))
        return real(*args)

    monkeypatch.setattr(core.demo.simulator, "deliver_to_simulated_clients", locked_once)
    ended = asyncio.Event()
    service = asyncio.create_task(
        simulated_clients(engine, Simulator(load_scenario()), clock, ended)
    )
    try:
        for _ in range(100):
            if rows(engine, "SELECT status FROM delivery") == [("delivered",)]:
                break
            await asyncio.sleep(0.05)
        assert not service.done()
    finally:
        ended.set()
        await asyncio.wait_for(service, timeout=3)
    assert rows(engine, "SELECT status FROM delivery") == [("delivered",)]
    assert len(turns) >= 2
