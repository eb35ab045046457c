"""Faults on the Telegram side: updates delivered twice, and a flood of strangers.

The real python-telegram-bot runs against the fake Bot API server
(tests.bots.fake_telegram), with time 50 times faster than the wall's where
Telegram's limits would otherwise make a test slow. Each test prints what
it checked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.chats import link_chat
from core.config import Settings
from core.models import Assignment, Delivery, Event, table
from tests.bots.fake_telegram import FakeTelegram
from tests.bots.support import (
    ANA,
    GROUP,
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
