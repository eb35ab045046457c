"""Running the bot against the fake Bot API server, with time running faster than the wall's.

Telegram's limits are a second per chat and 20 messages a minute per group:
draining even a small outbox at that pace takes longer than a test may. So
the pacer, the backoff, the database's clock and the fake server's rate
windows all read one `SpeedClock`, which runs `factor` times faster than
real time: a 30-second outage lasts 0.6 s, and the limits still hold, being
measured on the same clock on both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from bots.telegram.bot import TelegramService
from bots.telegram.pacing import Pacer
from core.base.instants import utc_now
from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff, invite, redeem
from core.sla.policies import PolicyBook
from core.store.models.outbox import Notification
from core.store.models.system import table
from tests.conftest import round_the_clock_settings
from tests.fakes.telegram import WAIT, FakeTelegram

TOKEN = "123:ABC"
AGENCY = "Atelier"
ANA, SAM, MAX = 501, 502, 503  # staff's Telegram ids, and their private chats with the bot
STRANGER = 666
GROUP = -1001893400112  # a client's supergroup


class SpeedClock:
    """Monotonic time, sleep and the instant of day, all `factor` times faster than real."""

    def __init__(self, factor: float = 50.0) -> None:
        self.factor = factor
        self._origin = time.monotonic()
        self._start = utc_now()

    def elapsed(self) -> float:
        return (time.monotonic() - self._origin) * self.factor

    def monotonic(self) -> float:
        return 1000.0 + self.elapsed()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0) / self.factor)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed())


def bot_settings(fake: FakeTelegram, **changes: Any) -> Settings:
    return round_the_clock_settings().model_copy(
        update={
            "telegram_token": TOKEN,
            "telegram_api_url": fake.base_url,
            "agency": AGENCY,
            **changes,
        }
    )


def service(
    settings: Settings, engine: Engine, speed: SpeedClock, **options: Any
) -> TelegramService:
    """The bot and its sender on `speed`'s time, polling in short long-polls."""
    options.setdefault("pacer", Pacer(clock=speed.monotonic, sleep=speed.sleep))
    return TelegramService(
        settings, engine, clock=speed.now, poll_interval=0.01, polling_timeout=1, **options
    )


@contextlib.asynccontextmanager
async def running(bot: TelegramService) -> AsyncIterator[TelegramService]:
    """Run `bot` in the test's loop until the block ends; fail if it does not start."""
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(bot.run(stop, started=started.set))
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiting], timeout=5, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()  # raises what stopped it
    assert started.is_set(), "the bot did not start"
    try:
        yield bot
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


def team(engine: Engine, at: datetime) -> dict[str, int]:
    """Ana the assistant, Sam a specialist and Max a manager, each bound to Telegram."""
    people = {
        "ana": (add_staff(engine, "Ana", "assistant", ["ana@agency.example"], at), ANA),
        "sam": (add_staff(engine, "Sam Staff", "specialist", ["sam@agency.example"], at), SAM),
        "max": (add_staff(engine, "Max", "manager", ["max@agency.example"], at), MAX),
    }
    for staff_id, telegram_id in people.values():
        redeem(engine, invite(engine, staff_id, at), telegram_id, at)
    return {name: staff_id for name, (staff_id, _) in people.items()}


def client_message(
    id: str,
    at: datetime,
    text: str = "Le formulaire ne marche plus.",
    task: str = "T1",
    client: str = "Acme",
    url: str | None = "https://tracker.example/{task}",
) -> dict[str, Any]:
    return {
        "id": id,
        "source": "webhook",
        "kind": "message",
        "occurred_at": at.isoformat(),
        "client": client,
        "task": {
            "id": task,
            "title": f"Task {task}",
            **({"url": url.format(task=task)} if url else {}),
        },
        "author": {"name": "Claire Client", "email": "claire@acme.example", "role": "client"},
        "text": text,
    }


def ingestor(engine: Engine, settings: Settings, speed: SpeedClock) -> Ingestor:
    return Ingestor(engine, PolicyBook(settings), clock=speed.now)


def notification_rows(engine: Engine) -> list[dict[str, Any]]:
    rows = table(Notification)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(rows).order_by(rows.c.id))]


async def until(condition: Any, timeout: float = WAIT, what: str = "condition") -> None:
    """Wait (polling every 10 ms) until `condition()` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.01)
