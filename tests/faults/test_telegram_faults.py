"""Faults on the Telegram side: updates delivered twice, and a flood of strangers.

The real python-telegram-bot runs against the fake Bot API server
(tests.fakes.telegram), with time 50 times faster than the wall's where
Telegram's limits would otherwise make a test slow. Each test prints what
it checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bots.http.intake import Health, create_app
from bots.telegram.bot import WEBHOOK_PATH, TelegramService, TelegramWebhook
from bots.telegram.pacing import Pacer
from bots.telegram.render import REFUSAL
from core.base.instants import utc_now
from core.config.settings import Settings
from core.conversations.chats import link_chat
from core.conversations.ingest import Ingestor
from core.sla.policies import PolicyBook
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Assignment, Event
from tests.bots.http.test_intake import serving
from tests.bots.support import (
    ANA,
    GROUP,
    MAX,
    TOKEN,
    SpeedClock,
    bot_settings,
    client_message,
    ingestor,
    notification_rows,
    running,
    service,
    team,
    until,
)
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.faults

CLIENT_USER = 6_001_002_003


@pytest.fixture
def speed() -> SpeedClock:
    return SpeedClock()


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


@pytest.fixture
def settings(fake: FakeTelegram) -> Settings:
    return bot_settings(fake)


def rows(engine: Engine, model: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(table(model))))


def alert_row(engine: Engine, message_id: int) -> int | None:
    """The notification sent as message `message_id`, once it is marked sent."""
    return next((r["id"] for r in notification_rows(engine) if r["message_id"] == message_id), None)


def redelivered(caplog: pytest.LogCaptureFixture) -> int:
    return sum("delivered again" in r.getMessage() for r in caplog.records)


async def test_an_update_delivered_twice_sends_the_reply_once(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pmdesk.bot")
    staff = team(engine, speed.now())
    feed = ingestor(engine, settings, speed)
    feed.ingest([client_message("c-0", speed.now(), client="Acme")])
    link_chat(engine, GROUP, "Acme", staff["ana"], speed.now(), "Acme × Atelier")

    async with running(service(settings, engine, speed)):
        fake.push_message(GROUP, CLIENT_USER, "Le site est en panne", chat_title="Acme")
        await until(lambda: len(fake.sent_messages(ANA)) >= 2, what="the group's alert")
        alert = fake.sent_messages(ANA)[1]
        fake.push_message(ANA, ANA, "C'est réparé.", reply_to_message_id=alert["message_id"])
        quick_reply = fake.last_update_id()
        await until(lambda: alert_row(engine, alert["message_id"]) is not None, what="marked sent")
        nid = alert_row(engine, alert["message_id"])
        fake.push_callback(ANA, ANA, alert["message_id"], f"take:{nid}")
        press = fake.last_update_id()
        await until(lambda: len(fake.sent_messages(GROUP)) == 1, what="the reply in the group")
        await fake.wait_for_async("answerCallbackQuery")
        await fake.wait_for_async("editMessageText", count=2)  # the receipt, the alert
    said_to_ana = len(fake.sent_messages(ANA))
    events = len(rows(engine, Event))

    # The process stopped before Telegram learnt that it had the updates: they come again.
    fake.redeliver(quick_reply)
    fake.redeliver(press)
    async with running(service(settings, engine, speed)):
        # Handled after both in her chat, in order: once answered, both were handled.
        fake.push_command(ANA, ANA, "queue")
        await until(lambda: len(fake.sent_messages(ANA)) > said_to_ana, what="the /queue answer")
        await until(lambda: all(d.status != "pending" for d in rows(engine, Delivery)))

    assert [m["text"] for m in fake.sent_messages(GROUP)] == ["C'est réparé.\n\n— Ana, Atelier"]
    assert len(rows(engine, Delivery)) == 1
    assert len(rows(engine, Event)) == events  # no second reply, no second assignment
    assignees = [a for a in rows(engine, Assignment) if a.role == "assignee"]
    assert [a.staff_id for a in assignees] == [staff["ana"]]
    assert redelivered(caplog) == 2
    assert len(fake.sent_messages(ANA)) == said_to_ana + 1  # the /queue answer, no receipt
    assert len(fake.calls("answerCallbackQuery")) == 1
    print(
        "checked: a quick reply and a button press delivered twice by Telegram "
        "(restart before the offset was confirmed) were recorded once, "
        "the reply was posted in the client's group once, no second receipt or answer"
    )


STRANGERS = 1_000
FIRST_STRANGER = 900_000_000
# What a flood of strangers may add to a staff alert's way out, at most.
ALLOWED_DELAY = 1.0


async def test_a_flood_of_strangers_does_not_delay_staff_alerts(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Real time and Telegram's real limits (enforced by the fake): 1,000 strangers
    write to the bot at once, then a client writes and a manager asks /queue."""
    caplog.set_level(logging.WARNING)
    with FakeTelegram(token=TOKEN, enforce_limits=True) as fake:
        settings = bot_settings(fake)
        team(engine, utc_now())
        feed = Ingestor(engine, PolicyBook(settings))
        bot = TelegramService(
            settings, engine, pacer=Pacer(), poll_interval=0.01, polling_timeout=1
        )
        async with running(bot):
            for n in range(STRANGERS):
                fake.push_message(FIRST_STRANGER + n, FIRST_STRANGER + n, "hello?")
            await until(lambda: fake.pending_updates < STRANGERS, what="the flood taken")
            asked = time.monotonic()
            feed.ingest([client_message("m1", utc_now())])
            fake.push_command(MAX, MAX, "queue")
            await until(lambda: fake.sent_messages(ANA), timeout=60, what="the alert")
            alert_after = time.monotonic() - asked
            await until(lambda: fake.sent_messages(MAX), timeout=60, what="/queue's answer")
            queue_after = time.monotonic() - asked
            await until(lambda: fake.pending_updates == 0, timeout=60, what="the flood handled")
            refused = [m for m in fake.sent_messages() if m["chat"]["id"] >= FIRST_STRANGER]
        rate_limited = fake.rate_limited

    print(
        f"checked: with {STRANGERS} strangers writing at once, the client-message alert "
        f"went out after {alert_after:.2f} s and the manager's /queue answer after "
        f"{queue_after:.2f} s (at most {ALLOWED_DELAY} s); {len(refused)} strangers were "
        f"answered while the flood lasted, {rate_limited} calls refused by Telegram"
    )
    assert alert_after <= ALLOWED_DELAY
    assert queue_after <= ALLOWED_DELAY
    assert all(m["text"] == REFUSAL for m in refused)
    assert rate_limited == 0


async def test_an_update_posted_twice_to_the_webhook_sends_the_reply_once(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pmdesk.bot")
    staff = team(engine, speed.now())
    ingestor(engine, settings, speed).ingest([client_message("c-0", speed.now(), client="Acme")])
    link_chat(engine, GROUP, "Acme", staff["ana"], speed.now(), "Acme × Atelier")
    webhook = TelegramWebhook("https://bot.agency.example/telegram/webhook")
    app = create_app(settings, engine, health=Health(), routers=[webhook.router()])

    async with serving(app) as url:
        webhook.url = url + WEBHOOK_PATH  # where the fake posts, as Telegram would
        async with running(service(settings, engine, speed, webhook=webhook)):
            await webhook_conversation(fake, engine, caplog)

    assert [m["text"] for m in fake.sent_messages(GROUP)] == ["C'est réparé.\n\n— Ana, Atelier"]
    assert len(rows(engine, Delivery)) == 1
    assert redelivered(caplog) == 1
    print(
        "checked: a quick reply posted twice to the webhook (Telegram retrying after a "
        "time-out) was recorded once and posted in the client's group once"
    )


async def webhook_conversation(
    fake: FakeTelegram, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A client writes in the group, Ana replies, and Telegram posts her reply twice."""
    fake.push_message(GROUP, CLIENT_USER, "Le site est en panne", chat_title="Acme")
    await asyncio.to_thread(fake.deliver_to_webhook)
    await until(lambda: len(fake.sent_messages(ANA)) >= 2, what="the group's alert")
    alert = fake.sent_messages(ANA)[1]
    fake.push_message(ANA, ANA, "C'est réparé.", reply_to_message_id=alert["message_id"])
    quick_reply = fake.last_update_id()
    await asyncio.to_thread(fake.deliver_to_webhook)
    await until(lambda: len(fake.sent_messages(GROUP)) == 1, what="the reply in the group")
    # Telegram did not get the answer in time: it posts the same update again.
    fake.redeliver(quick_reply)
    said_to_ana = len(fake.sent_messages(ANA))
    fake.push_command(ANA, ANA, "queue")  # handled after the redelivered reply: same chat
    statuses = await asyncio.to_thread(fake.deliver_to_webhook)
    await until(lambda: len(fake.sent_messages(ANA)) > said_to_ana, what="the /queue answer")
    await until(lambda: all(d.status != "pending" for d in rows(engine, Delivery)))
    assert statuses == [200, 200]
