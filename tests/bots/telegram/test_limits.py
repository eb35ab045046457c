"""Draining against a fake server that enforces Telegram's limits: not one 429 provoked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from core.config.settings import Settings
from core.conversations.actions import reply
from core.conversations.chats import chat_event, link_chat
from core.conversations.people import add_staff, invite, redeem
from core.notify.drain import due_deliveries
from core.store.models.system import table
from core.store.models.threads import Event
from tests.bots.support import (
    ANA,
    GROUP,
    MAX,
    SAM,
    TOKEN,
    SpeedClock,
    client_message,
    ingestor,
    notification_rows,
    running,
    service,
    team,
    until,
)
from tests.fakes.telegram import FakeTelegram

# Each drain takes about a second; the guard leaves room for a loaded machine.
EVENT = table(Event)


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic, enforce_limits=True) as server:
        yield server


def assignment(task: str, name: str, email: str, at: object) -> dict[str, object]:
    who = {"name": name, "email": email, "role": "staff"}
    event = client_message(f"a-{task}", at, task=task)  # type: ignore[arg-type]
    return {**event, "kind": "assignee", "assignee": who, "author": who, "text": ""}


def all_sent(engine: Engine) -> bool:
    return all(row["status"] == "sent" for row in notification_rows(engine))


async def test_sixty_alerts_to_three_chats_go_at_one_a_second_each(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    team(engine, speed.now())
    feed = ingestor(engine, settings, speed)
    now = speed.now()
    feed.ingest(
        [
            assignment("T2", "Sam Staff", "sam@agency.example", now),
            assignment("T3", "Max", "max@agency.example", now),
        ]
    )
    feed.ingest(
        [
            client_message(f"m-{task}-{n}", now, task=task, text=f"{n}")
            for n in range(20)
            for task in ("T1", "T2", "T3")
        ]
    )
    started = speed.elapsed()

    async with running(service(settings, engine, speed)):
        await until(lambda: all_sent(engine), timeout=10)

    assert fake.rate_limited == 0
    took = speed.elapsed() - started
    assert took >= 19  # twenty to each chat, a second apart
    for chat in (ANA, SAM, MAX):
        said = [m["text"].split("Claire Client: ")[1][:2].strip() for m in fake.sent_messages(chat)]
        assert said == [str(n) for n in range(20)]


async def test_seventy_alerts_to_thirty_five_people_stay_under_thirty_a_second(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    now = speed.now()
    feed = ingestor(engine, settings, speed)
    setup = []
    for n in range(35):
        staff_id = add_staff(engine, f"P{n}", "specialist", [f"p{n}@agency.example"], now)
        redeem(engine, invite(engine, staff_id, now), 10_000 + n, now)
        setup.append(assignment(f"T{n}", f"P{n}", f"p{n}@agency.example", now))
    feed.ingest(setup)
    feed.ingest(
        [client_message(f"m-{n}-{k}", now, task=f"T{n}") for k in range(2) for n in range(35)]
    )

    async with running(service(settings, engine, speed)):
        await until(lambda: all_sent(engine), timeout=10)

    assert fake.rate_limited == 0
    assert len(fake.sent_messages()) == 70
    arrivals = sorted(call.at for call in fake.calls("sendMessage"))
    assert all(later - first >= 1 for first, later in zip(arrivals, arrivals[30:], strict=False))


async def test_twenty_five_replies_in_a_group_wait_for_the_minute(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    staff = team(engine, speed.now())
    feed = ingestor(engine, settings, speed)
    feed.ingest([client_message("c-0", speed.now())])  # Acme exists
    link_chat(engine, GROUP, "Acme", staff["ana"], speed.now())
    [opened] = feed.ingest(
        [chat_event(GROUP, 1, speed.now(), "Acme", 6_001, "Claire", "Bonjour", title="Acme")]
    )
    with engine.connect() as connection:
        thread_id = connection.execute(
            select(EVENT.c.thread_id).where(EVENT.c.id == opened.event_id)
        ).scalar_one()
    for n in range(25):
        reply(feed, thread_id, staff["sam"], f"reply {n}", clock=speed.now)

    async with running(service(settings, engine, speed)):
        await until(
            lambda: (
                not due_deliveries(engine, speed.now()) and len(fake.sent_messages(GROUP)) == 25
            ),
            timeout=10,
        )

    assert fake.rate_limited == 0
    said = [m["text"] for m in fake.sent_messages(GROUP)]
    assert said == [f"reply {n}\n\n— Sam Staff, Atelier" for n in range(25)]
    arrivals = [c.at for c in fake.calls("sendMessage") if c.params["chat_id"] == GROUP]
    assert arrivals[20] - arrivals[0] >= 60


async def test_a_reply_to_a_group_is_not_crowded_out_by_other_channels_waiting(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    """More replies due on other channels (Worksection down, a webhook's thread) than the
    sender looks at in one turn come first by id; the group's reply still goes out."""
    staff = team(engine, speed.now())
    feed = ingestor(engine, settings, speed)
    [elsewhere] = feed.ingest([client_message("w-0", speed.now(), task="W1")])
    with engine.connect() as connection:
        other_thread = connection.execute(
            select(EVENT.c.thread_id).where(EVENT.c.id == elsewhere.event_id)
        ).scalar_one()
    for n in range(501):  # the sender's turn looks at 500 rows
        reply(feed, other_thread, staff["sam"], f"elsewhere {n}", clock=speed.now)
    link_chat(engine, GROUP, "Acme", staff["ana"], speed.now())
    [opened] = feed.ingest(
        [chat_event(GROUP, 1, speed.now(), "Acme", 6_001, "Claire", "Bonjour", title="Acme")]
    )
    with engine.connect() as connection:
        thread_id = connection.execute(
            select(EVENT.c.thread_id).where(EVENT.c.id == opened.event_id)
        ).scalar_one()
    reply(feed, thread_id, staff["sam"], "to the group", clock=speed.now)

    async with running(service(settings, engine, speed)):
        await until(lambda: len(fake.sent_messages(GROUP)) == 1, timeout=10)

    assert fake.sent_messages(GROUP)[0]["text"].startswith("to the group")
    assert len(due_deliveries(engine, speed.now(), 1000)) == 501  # theirs, still waiting
