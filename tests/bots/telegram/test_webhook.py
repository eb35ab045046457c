"""The bot in webhook mode: Telegram (the fake) posts updates to the intake's port.

The real python-telegram-bot registers the webhook on the fake Bot API, the
fake delivers pushed updates to `POST /telegram/webhook` of a real uvicorn
server with the secret token Telegram would send, and the bot's handlers
answer through the fake as in polling mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine

from bots.http.intake import Health, create_app
from bots.services.runner import run_services
from bots.telegram.bot import SECRET_HEADER, WEBHOOK_PATH, TelegramWebhook
from bots.telegram.render import REFUSAL
from core.config.settings import HttpConfig, Settings
from core.conversations.people import add_staff, invite, staff_by_telegram
from core.store.reader import EngineReader
from tests.bots.http.test_intake import answers, free_port, serving
from tests.bots.support import STRANGER, TOKEN, SpeedClock, bot_settings, running, service, until
from tests.fakes.telegram import FakeTelegram

NINA = 777
UPDATE = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 1_790_000_000,
        "chat": {"id": STRANGER, "type": "private"},
        "from": {"id": STRANGER, "is_bot": False, "first_name": "Eve"},
        "text": "hello",
    },
}


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


@pytest.fixture
async def base(settings: Settings, engine: Engine) -> AsyncIterator[tuple[str, TelegramWebhook]]:
    """The intake with the webhook's route, before the bot runs; its URL and the webhook."""
    webhook = TelegramWebhook("https://bot.agency.example/telegram/webhook")
    app = create_app(settings, engine, health=Health(), routers=[webhook.router()])
    async with serving(app) as url:
        webhook.url = url + WEBHOOK_PATH  # where the fake will post, as Telegram would
        yield url, webhook


async def test_the_bot_registers_its_webhook_and_handles_what_telegram_posts(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    base: tuple[str, TelegramWebhook],
) -> None:
    _, webhook = base
    nina = add_staff(engine, "Nina", "pm", ["nina@agency.example"], speed.now())
    code = invite(engine, nina, speed.now())

    async with running(service(settings, engine, speed, webhook=webhook)):
        [registered] = fake.calls("setWebhook")
        fake.push_command(NINA, NINA, "start", code)
        fake.push_message(STRANGER, STRANGER, "hello?")
        statuses = await asyncio.to_thread(fake.deliver_to_webhook)
        await until(lambda: len(fake.sent_messages()) >= 2, what="both answers")

    assert registered.params["url"] == webhook.url
    assert registered.params["secret_token"] == webhook.secret
    assert len(webhook.secret) >= 32
    assert statuses == [200, 200]
    assert fake.pending_updates == 0
    assert fake.calls("getUpdates") == []  # no polling beside the webhook
    assert fake.sent_messages(NINA)[0]["text"].startswith("Welcome, Nina!")
    bound = staff_by_telegram(EngineReader(engine), NINA)
    assert bound is not None and bound.id == nina
    assert [m["text"] for m in fake.sent_messages(STRANGER)] == [REFUSAL]
    # Stopped, the bot takes its webhook back; Telegram keeps updates until the next start.
    assert fake.calls("deleteWebhook") and fake.webhook_url == ""


async def test_a_missing_or_wrong_secret_token_is_refused_and_reaches_no_handler(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    base: tuple[str, TelegramWebhook],
) -> None:
    url, webhook = base
    async with (
        running(service(settings, engine, speed, webhook=webhook)),
        httpx.AsyncClient(base_url=url) as http,
    ):
        missing = await http.post(WEBHOOK_PATH, json=UPDATE)
        wrong = await http.post(WEBHOOK_PATH, json=UPDATE, headers={SECRET_HEADER: "guess"})
        not_update = await http.post(
            WEBHOOK_PATH, content=b"[1, 2", headers={SECRET_HEADER: webhook.secret}
        )
        right = await http.post(WEBHOOK_PATH, json=UPDATE, headers={SECRET_HEADER: webhook.secret})
        await until(lambda: len(fake.sent_messages(STRANGER)) >= 1, what="the refusal")
        await asyncio.sleep(0.2)  # time for anything else to be (wrongly) answered

    assert (missing.status_code, wrong.status_code) == (401, 403)
    assert not_update.status_code == 400
    assert right.status_code == 200
    assert [m["text"] for m in fake.sent_messages(STRANGER)] == [REFUSAL]  # only the right one


async def test_updates_before_the_bot_runs_are_left_for_telegram_to_retry(
    base: tuple[str, TelegramWebhook],
) -> None:
    url, webhook = base
    async with httpx.AsyncClient(base_url=url) as http:
        early = await http.post(WEBHOOK_PATH, json=UPDATE, headers={SECRET_HEADER: webhook.secret})

    assert early.status_code == 503


async def test_the_services_serve_the_webhook_on_the_intake_port(
    engine: Engine, fake: FakeTelegram
) -> None:
    port = free_port()
    settings = bot_settings(
        fake,
        http=HttpConfig(port=port),
        telegram_webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        telegram_webhook_secret="configured-secret_0123",
    )
    stop = asyncio.Event()
    options = {"poll_interval": 0.01, "polling_timeout": 1}
    task = asyncio.create_task(
        run_services(
            settings, stop, engine=engine, holder="here", ttl=timedelta(seconds=3), telegram=options
        )
    )
    try:
        await until(lambda: answers(port) and bool(fake.webhook_url), timeout=8, what="running")
        fake.push_message(STRANGER, STRANGER, "hello?")
        statuses = await asyncio.to_thread(fake.deliver_to_webhook)
        await until(lambda: len(fake.sent_messages(STRANGER)) >= 1, what="the refusal")
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    [registered] = fake.calls("setWebhook")
    assert registered.params["secret_token"] == "configured-secret_0123"
    assert statuses == [200]
    assert [m["text"] for m in fake.sent_messages(STRANGER)] == [REFUSAL]
    assert health.status_code == 200
    assert health.json()["services"]["bot"] == "running"
    assert health.json()["expected"] == ["bot", "scheduler"]
    assert fake.calls("getUpdates") == []
