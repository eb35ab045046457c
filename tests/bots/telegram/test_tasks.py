"""Changing a thread's Worksection task from Telegram: the real bot against the fake server.

Each command is sent in reply to an alert, as a staff member writes it; what
it records is checked in the database (the same rows `pmdesk task` records),
and what the bot answers in the chat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bots.telegram.answers import NOT_YOURS
from bots.telegram.tasks import help_text
from core.config.settings import Settings, WorksectionConfig
from core.conversations.ingest import Ingestor
from core.notify.drain import notification_for_message
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Event
from core.store.models.tracker import TrackerAction
from core.tracker.dates import agency_calendar, parse_deadline
from core.tracker.delivery import mark_refused
from tests.bots.support import (
    ANA,
    SAM,
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

TASK = "4211"
EVENT, DELIVERY, ACTION = table(Event), table(Delivery), table(TrackerAction)


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


@pytest.fixture
def settings(fake: FakeTelegram) -> Settings:
    config = WorksectionConfig(base_url="http://127.0.0.1:9", api_key="key")
    return bot_settings(fake, worksection=config)


@pytest.fixture
def staff(engine: Engine, speed: SpeedClock) -> dict[str, int]:
    return team(engine, speed.now())


@pytest.fixture
def feed(engine: Engine, settings: Settings, speed: SpeedClock) -> Ingestor:
    return ingestor(engine, settings, speed)


def said(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [message["text"] for message in fake.sent_messages(chat_id)]


async def answers(fake: FakeTelegram, chat_id: int, count: int) -> list[str]:
    await until(lambda: len(fake.sent_messages(chat_id)) >= count, what=f"{count} to {chat_id}")
    return said(fake, chat_id)


def recorded(engine: Engine) -> list[tuple[str, Any, str, str | None, str]]:
    """(verb, params, event kind, author, delivery status), oldest first."""
    with engine.connect() as connection:
        found = connection.execute(
            select(ACTION.c.verb, ACTION.c.params, EVENT.c.kind, EVENT.c.author_name)
            .add_columns(DELIVERY.c.status)
            .join(EVENT, EVENT.c.id == ACTION.c.event_id)
            .join(DELIVERY, DELIVERY.c.event_id == ACTION.c.event_id)
            .order_by(ACTION.c.event_id)
        )
        return [(v, json.loads(p), k, a, s) for v, p, k, a, s in found]


async def an_alert(fake: FakeTelegram, feed: Ingestor, speed: SpeedClock) -> JSON:
    """A client writes on the Worksection task; Ana, the assistant on duty, is alerted
    (and the alert is known as sent: a reply to it finds its thread)."""
    feed.ingest([{**client_message("c-1", speed.now(), task=TASK), "source": "worksection"}])
    await until(lambda: len(fake.sent_messages(ANA)) >= 1, what="the alert")
    alert = fake.sent_messages(ANA)[0]
    await until(
        lambda: notification_for_message(feed.engine, ANA, alert["message_id"]) is not None,
        what="the alert recorded as sent",
    )
    return alert


async def test_each_command_in_reply_to_an_alert_is_recorded_as_its_author(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    commands = [
        "/deadline 12.12.2030",
        "/deadline +2",
        "/todo Logo\nFonts\n\nColours",
        "/sub Wire frames @Max +3\nHome\nContact",
        "/owner Sam Staff",
        "/owner -",
        "/done",
        "/reopen",
        "/tag +Urgent -Waiting",
    ]
    async with running(service(settings, engine, speed)):
        alert = await an_alert(fake, feed, speed)
        for command in commands:
            fake.push_message(ANA, ANA, command, reply_to_message_id=alert["message_id"])
        texts = await answers(fake, ANA, 1 + len(commands))

    calendar, zone = agency_calendar(settings)
    today = speed.now().astimezone(zone).date()

    def plus(days: int) -> str:
        return parse_deadline(f"+{days}", today, calendar, zone).strftime("%d.%m.%Y")

    ana = "Ana"
    assert recorded(engine) == [
        ("deadline", {"dateend": "12.12.2030"}, "deadline", ana, "pending"),
        ("deadline", {"dateend": plus(2)}, "deadline", ana, "pending"),
        ("todo", {"todo": ["Logo", "Fonts", "Colours"]}, "checklist", ana, "pending"),
        (
            "subtask",
            {
                "title": "Wire frames",
                "email_user_to": "max@agency.example",
                "dateend": plus(3),
                "todo": ["Home", "Contact"],
            },
            "subtask",
            ana,
            "pending",
        ),
        ("owner", {"email_user_to": "sam@agency.example"}, "assignee", ana, "pending"),
        ("owner", {"email_user_to": "NOONE"}, "assignee", ana, "pending"),
        ("close", {}, "task_closed", ana, "pending"),
        ("reopen", {}, "task_reopened", ana, "pending"),
        ("tags", {"plus": ["Urgent"], "minus": ["Waiting"]}, "tags", ana, "pending"),
    ]
    replies = texts[1:]
    assert replies[0] == f"✓ Queued for Worksection task {TASK}: deadline 12.12.2030"
    assert all(text.startswith(f"✓ Queued for Worksection task {TASK}: ") for text in replies)
    assert "close the task" in replies[6] and "tags +Urgent -Waiting" in replies[8]


async def test_a_refusal_is_answered_with_its_reason_and_records_nothing(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    async with running(service(settings, engine, speed)):
        alert = await an_alert(fake, feed, speed)
        for command in ("/deadline 01.01.2020", "/owner Nobody Known", "/tag urgent", "/todo"):
            fake.push_message(ANA, ANA, command, reply_to_message_id=alert["message_id"])
        texts = await answers(fake, ANA, 5)

    refusals = texts[1:]
    assert refusals[0].startswith("Not queued: 01.01.2020 is in the past")
    assert "/deadline 12.12 or /deadline +2" in refusals[0]  # and how to use it
    assert refusals[1].startswith("Not queued: no staff member 'Nobody Known'")
    assert refusals[2].startswith("Not queued: write +TAG to add a tag and -TAG")
    assert refusals[3].startswith("Not queued: an empty checklist is not sent")
    assert recorded(engine) == []


async def test_a_command_not_in_reply_to_an_alert_says_how_to_use_it_alone(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    async with running(service(settings, engine, speed)):
        await an_alert(fake, feed, speed)
        fake.push_message(ANA, ANA, "/deadline +2")
        # An answer that is no alert of the bot: Ana's own message.
        mine = fake.push_message(ANA, ANA, "a note to myself")
        texts = await answers(fake, ANA, 3)  # the alert, the hint to /deadline, the chat's hint
        fake.push_message(ANA, ANA, "/done", reply_to_message_id=mine["message_id"])
        fake.push_message(ANA, ANA, "/help")
        texts = await answers(fake, ANA, 5)

    assert texts[1] == (
        "/deadline 12.12 or /deadline +2 (business days): move the task's deadline\n"
        "Send it in reply to my alert about the thread whose task it changes."
    )
    assert texts[3].startswith("/done: close the task\nSend it in reply to my alert")
    assert texts[4] == help_text().replace("&lt;", "<").replace("&gt;", ">")
    assert "/sub title @owner +3" in texts[4] and "/queue" in texts[4]
    assert recorded(engine) == []


async def test_a_command_delivered_twice_is_recorded_once(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    async with running(service(settings, engine, speed)):
        alert = await an_alert(fake, feed, speed)
        fake.push_message(ANA, ANA, "/done", reply_to_message_id=alert["message_id"])
        await answers(fake, ANA, 2)
        fake.redeliver(fake.last_update_id())
        fake.push_message(ANA, ANA, "/reopen", reply_to_message_id=alert["message_id"])
        await answers(fake, ANA, 3)
    assert [row[0] for row in recorded(engine)] == ["close", "reopen"]
    assert len(said(fake, ANA)) == 3


async def test_worksections_later_refusal_reaches_the_same_chat(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    async with running(service(settings, engine, speed)):
        alert = await an_alert(fake, feed, speed)
        fake.push_message(ANA, ANA, "/deadline 12.12.2030", reply_to_message_id=alert["message_id"])
        await answers(fake, ANA, 2)
        with engine.connect() as connection:
            event_id = connection.execute(select(ACTION.c.event_id)).scalar_one()
        mark_refused(engine, event_id, speed.now(), "Task is closed")
        texts = await answers(fake, ANA, 3)
    assert "Worksection refused your change (deadline 12.12.2030)" in texts[2]
    assert "Task is closed" in texts[2]


async def test_without_worksection_configured_the_command_says_so(
    engine: Engine,
    fake: FakeTelegram,
    speed: SpeedClock,
    staff: dict[str, int],
) -> None:
    plain = bot_settings(fake)
    feed = ingestor(engine, plain, speed)
    async with running(service(plain, engine, speed)):
        alert = await an_alert(fake, feed, speed)
        fake.push_message(ANA, ANA, "/done", reply_to_message_id=alert["message_id"])
        texts = await answers(fake, ANA, 2)
    assert texts[1] == "Worksection is not configured (the [worksection] table)"
    assert recorded(engine) == []


async def test_only_the_alerts_recipient_changes_the_task(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    async with running(service(settings, engine, speed)):
        alert = await an_alert(fake, feed, speed)
        # Sam answers Ana's alert (forwarded to him, or in a shared chat).
        fake.push_message(ANA, SAM, "/done", reply_to_message_id=alert["message_id"])
        texts = await answers(fake, ANA, 2)
    assert texts[1] == NOT_YOURS
    assert recorded(engine) == []
