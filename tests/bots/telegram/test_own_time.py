"""Replies and actions taken from Telegram count in pmdesk's own measure, once each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from core.config.settings import Settings, TimeConfig, WorksectionConfig
from core.conversations.ingest import Ingestor
from core.notify.drain import notification_for_message
from core.store.reader import EngineReader
from core.time.own import OwnDay, own_days
from tests.bots.support import (
    ANA,
    TOKEN,
    SpeedClock,
    bot_settings,
    client_message,
    ingestor,
    running,
    service,
    team,
    until,
)
from tests.fakes.telegram import JSON, FakeTelegram


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


@pytest.fixture
def settings(fake: FakeTelegram) -> Settings:
    config = WorksectionConfig(base_url="http://127.0.0.1:9", api_key="key")
    time = TimeConfig(telegram_reply_minutes=2.5, telegram_action_minutes=0.5)
    return bot_settings(fake, worksection=config, time=time)


async def press(fake: FakeTelegram, alert: JSON, data: str) -> str:
    before = len(fake.calls("answerCallbackQuery"))
    fake.push_callback(ANA, ANA, alert["message_id"], data)
    calls = await fake.wait_for_async("answerCallbackQuery", count=before + 1)
    return str(calls[-1].params.get("text"))


async def test_each_reply_and_action_counts_once(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    staff = team(engine, speed.now())
    feed: Ingestor = ingestor(engine, settings, speed)
    feed.ingest([{**client_message("c-1", speed.now(), task="4211"), "source": "worksection"}])
    async with running(service(settings, engine, speed)):
        await until(lambda: len(fake.sent_messages(ANA)) >= 1, what="the alert")
        alert = fake.sent_messages(ANA)[0]
        await until(
            lambda: notification_for_message(engine, ANA, alert["message_id"]) is not None,
            what="the alert recorded as sent",
        )
        nid = notification_for_message(engine, ANA, alert["message_id"]).id  # type: ignore[union-attr]
        assert await press(fake, alert, f"take:{nid}") == "Assigned to you."  # an action
        assert await press(fake, alert, f"canned:{nid}:0") == "Reply recorded."  # a reply
        # The same canned reply again: already sent, not counted again.
        assert await press(fake, alert, f"canned:{nid}:1") != "Reply recorded."
        fake.push_message(ANA, ANA, "On s'en occupe", reply_to_message_id=alert["message_id"])
        fake.push_message(ANA, ANA, "/done", reply_to_message_id=alert["message_id"])
        await until(
            lambda: sum(d.telegram_actions for d in days(engine, speed)) >= 4, what="four counted"
        )
    [day] = days(engine, speed)
    assert (day.staff_id, day.screen_seconds) == (staff["ana"], 0)
    # take 0:30 + canned 2:30 + quick reply 2:30 + /done 0:30
    assert (day.telegram_seconds, day.telegram_actions) == (360, 4)


def days(engine: Engine, speed: SpeedClock) -> list[OwnDay]:
    today = speed.now().date()
    return own_days(EngineReader(engine), today - timedelta(days=1), today + timedelta(days=1))
