"""Services of the caller's own, and the services without their HTTP intake (as the demo runs)."""

from __future__ import annotations

import asyncio
import json
import socket

from sqlalchemy import Engine, text

from bots.services.runner import run_services
from core.config.settings import HttpConfig
from tests.bots.support import until
from tests.conftest import round_the_clock_settings
from tests.support import free_port


def reported(engine: Engine) -> dict[str, object]:
    with engine.connect() as connection:
        found = connection.execute(text("SELECT services FROM lease")).scalar()
    return {} if found is None else dict(json.loads(found))


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_extra_services_run_by_name_and_one_failing_stops_alone(engine: Engine) -> None:
    port = free_port()
    settings = round_the_clock_settings().model_copy(
        update={"http": HttpConfig(host="127.0.0.1", port=port)}
    )
    turns: list[Engine] = []

    async def steady(given: Engine, ended: asyncio.Event) -> None:
        while not ended.is_set():
            turns.append(given)
            await asyncio.sleep(0.01)

    async def broken(given: Engine, ended: asyncio.Event) -> None:
        raise RuntimeError("out of order")

    stop = asyncio.Event()
    task = asyncio.create_task(
        run_services(
            settings,
            stop,
            engine=engine,
            holder="demo",
            intake=False,
            extra={"steady": steady, "broken": broken},
        )
    )
    try:
        await until(
            lambda: (
                reported(engine)
                == {
                    "intake": "stopped",
                    "bot": "stopped",
                    "scheduler": "running",
                    "steady": "running",
                    "broken": "failed",
                    # Why, for a dashboard in another process to say.
                    "failures": {"broken": "stopped on an error: out of order"},
                }
            ),
            what="the extras reported by name, the intake never started",
        )
        assert not listening(port)
        count = len(turns)
        await until(lambda: len(turns) > count, what="the steady service still running")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert set(turns) == {engine}  # on the services' own database
    assert reported(engine) == {}  # the lease given back
