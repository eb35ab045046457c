"""The bot as staff and strangers meet it: the real python-telegram-bot against the fake server.

Time runs 50 times faster than the wall's (tests.bots.support.SpeedClock), so
Telegram's limits, backoffs and retry_after are the real ones and still take
a fraction of a second.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

import bots.telegram.sender
from bots.telegram.answers import NOT_YOURS
from bots.telegram.groups import NO_SUCH_CLIENT, NOT_A_LINKER
from bots.telegram.render import BAD_CODE, REFUSAL
from core.config.settings import Settings
from core.conversations.actions import reply
from core.conversations.chats import client_for_chat, link_chat
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff, find_staff, invite, staff_by_telegram, unbind
from core.conversations.threads import thread_detail
from core.notify.drain import mark_sent
from core.sla.views import running_clocks
from core.store.lease import acquire
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Clock, Event
from core.store.reader import EngineReader
from tests.bots.support import (
    ANA,
    GROUP,
    MAX,
    SAM,
    STRANGER,
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
from tests.fakes.telegram import JSON, FakeTelegram

CHATS = (ANA, SAM, MAX)
CLIENT_USER = 6_001_002_003
NINA = 777


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


@pytest.fixture
def staff(engine: Engine, speed: SpeedClock) -> dict[str, int]:
    return team(engine, speed.now())


@pytest.fixture
def feed(engine: Engine, settings: Settings, speed: SpeedClock) -> Ingestor:
    """Events from a source, on the test's clock."""
    return ingestor(engine, settings, speed)


def sent_to(fake: FakeTelegram, chat_id: int) -> list[JSON]:
    return fake.sent_messages(chat_id)


async def messages_to(fake: FakeTelegram, chat_id: int, count: int) -> list[JSON]:
    """Wait for `count` messages to a chat; all of them so far."""
    await until(lambda: len(sent_to(fake, chat_id)) >= count, what=f"{count} to {chat_id}")
    return sent_to(fake, chat_id)


async def reply_to(fake: FakeTelegram, chat_id: int, message_id: int) -> JSON:
    """Wait for the bot's answer to one message of a chat, whatever else it sends meanwhile.

    On a loaded host the speed clock runs on, so a clock's warning may come
    before the answer: counting messages would take it for the answer.
    """

    def answers() -> list[JSON]:
        return [
            message
            for message in sent_to(fake, chat_id)
            if message.get("reply_to_message", {}).get("message_id") == message_id
        ]

    await until(lambda: bool(answers()), what=f"an answer to {message_id} in {chat_id}")
    return answers()[0]


def calls_about(fake: FakeTelegram, chat_id: int) -> list[Any]:
    return [c for c in fake.calls() if c.params.get("chat_id") == chat_id]


def clocks(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(table(Clock)).order_by(table(Clock).c.id)))


def events(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(table(Event)).order_by(table(Event).c.id)))


def deliveries(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(table(Delivery))))


# -- who may talk to the bot -----------------------------------------------------------


async def test_an_invite_binds_the_account_and_stop_unbinds_it(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    nina = add_staff(engine, "Nina", "pm", ["nina@agency.example"], speed.now())
    code = invite(engine, nina, speed.now())

    async with running(service(settings, engine, speed)):
        fake.push_command(NINA, NINA, "start", code)
        [welcome] = await messages_to(fake, NINA, 1)
        bound = staff_by_telegram(EngineReader(engine), NINA)
        fake.push_command(NINA, NINA, "stop")
        await messages_to(fake, NINA, 2)
        fake.push_command(NINA, NINA, "queue")
        *_, refusal = await messages_to(fake, NINA, 3)

    assert welcome["text"].startswith("Welcome, Nina!")
    assert bound is not None and bound.id == nina
    assert "no longer linked to Nina" in sent_to(fake, NINA)[1]["text"]
    assert staff_by_telegram(EngineReader(engine), NINA) is None
    assert refusal["text"] == REFUSAL


async def test_a_bad_expired_or_used_code_is_refused_without_saying_why(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pmdesk.bot")
    nina = add_staff(engine, "Nina", "pm", [], speed.now())
    expired = invite(engine, nina, speed.now().replace(year=2020))
    used = invite(engine, nina, speed.now())

    async with running(service(settings, engine, speed)):
        fake.push_command(SAM, SAM, "start", used)  # Sam takes it first
        await messages_to(fake, SAM, 1)
        for code in ("nonsense", expired, used):
            fake.push_command(NINA, NINA, "start", code)
        await messages_to(fake, NINA, 3)

    assert [m["text"] for m in sent_to(fake, NINA)] == [BAD_CODE] * 3
    assert staff_by_telegram(EngineReader(engine), NINA) is None
    reasons = [r.getMessage() for r in caplog.records if "invite code" in r.getMessage()]
    # The reason is logged, not said: the messages above are all alike.
    assert [reason.rsplit(": ", 1)[1] for reason in reasons] == ["unknown", "expired", "used"]


async def test_a_stranger_learns_nothing_and_is_refused_once(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pmdesk.bot")
    secret = "Le devis secret de Acme"
    feed.ingest([client_message("m1", speed.now(), text=secret)])
    tries = ["hello?", "/queue", "/mute 1h", "/start", "/link Acme", "/stop", "/help"]

    async with running(service(settings, engine, speed)):
        [alert] = await messages_to(fake, ANA, 1)
        for text in tries:
            fake.push_message(STRANGER, STRANGER, text)
        # Ana leaves; the buttons of her alert no longer work for her.
        fake.push_command(ANA, ANA, "stop")
        await messages_to(fake, ANA, 2)
        fake.push_callback(ANA, ANA, alert["message_id"], f"take:{alert_id(engine)}")
        fake.push_message(ANA, ANA, "Je réponds", reply_to_message_id=alert["message_id"])
        fake.push_message(ANA, ANA, "/queue")
        await fake.wait_for_async("answerCallbackQuery")
        await until(lambda: len(refusals(caplog)) >= len(tries) + 3, what="every refusal logged")
        # Refusals go one a second (bots.telegram.refusals), after the stranger's: Ana's comes next.
        await messages_to(fake, ANA, 3)

    stranger_calls = calls_about(fake, STRANGER)
    assert [(c.method, c.params["text"]) for c in stranger_calls] == [("sendMessage", REFUSAL)]
    assert [m["text"] for m in sent_to(fake, ANA)[2:]] == [REFUSAL]
    assert fake.calls("answerCallbackQuery")[0].params["text"] == REFUSAL
    everything_said = str([c.params for c in stranger_calls + fake.calls("answerCallbackQuery")])
    assert "Acme" not in everything_said and secret not in everything_said
    assert thread_detail(EngineReader(engine), 1).assignees == []  # type: ignore[union-attr]
    assert [e.kind for e in events(engine)] == ["message"]  # nothing was recorded
    assert all(f"user {STRANGER}" in r or f"user {ANA}" in r for r in refusals(caplog))


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "pmdesk.bot" and r.getMessage().startswith("refused")
    ]


def alert_id(engine: Engine) -> int:
    return int(notification_rows(engine)[0]["id"])


# -- answering clients ---------------------------------------------------------------------


async def test_a_quick_reply_stops_the_clock_and_is_queued_for_the_threads_channel(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    event = client_message("c-1", speed.now())
    feed.ingest([{**event, "source": "worksection"}])

    async with running(service(settings, engine, speed)):
        [alert] = await messages_to(fake, ANA, 1)
        pushed = fake.push_message(
            ANA, ANA, "On regarde <tout> de suite", reply_to_message_id=alert["message_id"]
        )
        confirmation = await reply_to(fake, ANA, pushed["message_id"])

    [clock] = clocks(engine)
    assert (clock.outcome, clock.stopped_by_staff) == ("met", staff["ana"])
    answer = events(engine)[-1]
    assert (answer.text, answer.author_name, answer.source) == (
        "On regarde <tout> de suite",
        "Ana",
        "pmdesk",
    )
    [delivery] = deliveries(engine)
    # Worksection's connector comes later: the reply waits for it, untouched here.
    assert (delivery.channel, delivery.status, delivery.attempts) == ("worksection", "pending", 0)
    assert confirmation["text"] == "✓ Reply recorded, sending via Worksection…"
    assert confirmation["reply_to_message"]["message_id"] > alert["message_id"]


async def test_a_quick_reply_on_a_group_thread_is_posted_in_the_group_signed(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    feed.ingest([client_message("c-0", speed.now(), client="Acme")])  # Acme exists
    link_chat(engine, GROUP, "Acme", staff["ana"], speed.now(), "Acme × Atelier")

    async with running(service(settings, engine, speed)):
        fake.push_message(
            GROUP,
            CLIENT_USER,
            "Le site est en panne",
            chat_title="Acme × Atelier",
            first_name="Claire",
        )
        _, alert = await messages_to(fake, ANA, 2)
        fake.push_message(ANA, ANA, "C'est réparé.", reply_to_message_id=alert["message_id"])
        [posted] = await messages_to(fake, GROUP, 1)
        edited = await fake.wait_for_async("editMessageText")

    assert alert["text"].startswith("💬 <b>Acme · Acme × Atelier</b>\nClaire: Le site est en panne")
    assert posted["text"] == "C'est réparé.\n\n— Ana, Atelier"
    [to_group] = [c for c in fake.calls("sendMessage") if c.params["chat_id"] == GROUP]
    assert "parse_mode" not in to_group.params  # plain text: nothing in a reply is markup
    group_thread = clocks(engine)[-1]
    assert (group_thread.outcome, group_thread.stopped_by_staff) == ("met", staff["ana"])
    delivery = next(d for d in deliveries(engine) if d.channel == "telegram")
    assert (delivery.status, delivery.channel_message_id) == (
        "delivered",
        str(posted["message_id"]),
    )
    receipt_id = sent_to(fake, ANA)[-1]["message_id"]
    assert edited[0].params["message_id"] == receipt_id
    assert (
        fake.message(ANA, receipt_id)["text"] == "✓ Reply delivered to the client's Telegram group."
    )


async def test_a_reply_the_group_refuses_is_reported_to_its_author(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    feed.ingest([client_message("c-0", speed.now(), client="Acme")])
    link_chat(engine, GROUP, "Acme", staff["ana"], speed.now())

    async with running(service(settings, engine, speed)):
        fake.push_message(GROUP, CLIENT_USER, "Bonjour ?")
        await messages_to(fake, ANA, 2)
        fake.fail_next(
            "sendMessage", status=403, description="Forbidden: bot was kicked from the group"
        )
        thread_id = clocks(engine)[-1].thread_id
        reply(feed, thread_id, staff["sam"], "Bonjour !", clock=speed.now)  # from the dashboard
        [told] = await messages_to(fake, SAM, 1)

    delivery = next(d for d in deliveries(engine) if d.channel == "telegram")
    assert (delivery.status, delivery.error) == (
        "failed",
        "Forbidden: bot was kicked from the group",
    )
    assert "Your reply could not be delivered: Forbidden: bot was kicked" in told["text"]
    assert sent_to(fake, GROUP) == []


# -- buttons ----------------------------------------------------------------------------


async def press(fake: FakeTelegram, chat_id: int, message: JSON, data: str) -> str:
    """Press a button of `message`; what the bot answered (the toast)."""
    before = len(fake.calls("answerCallbackQuery"))
    fake.push_callback(chat_id, chat_id, message["message_id"], data)
    calls = await fake.wait_for_async("answerCallbackQuery", count=before + 1)
    return str(calls[-1].params.get("text"))


def buttons(message: JSON) -> list[list[tuple[str, str | None, str | None]]]:
    return [
        [(b["text"], b.get("callback_data"), b.get("url")) for b in row]
        for row in message.get("reply_markup", {}).get("inline_keyboard", [])
    ]


async def test_take_it_assigns_the_thread_to_whoever_pressed(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    feed.ingest([client_message("m1", speed.now())])

    async with running(service(settings, engine, speed)):
        [alert] = await messages_to(fake, ANA, 1)
        nid = alert_id(engine)
        toast = await press(fake, ANA, alert, f"take:{nid}")
        await fake.wait_for_async("editMessageText")

    assert toast == "Assigned to you."
    detail = thread_detail(EngineReader(engine), clocks(engine)[0].thread_id)
    assert detail is not None and detail.assignees == ["Ana"]
    now_shown = fake.message(ANA, alert["message_id"])
    assert "✓ Taken by Ana." in now_shown["text"]
    assert buttons(now_shown) == buttons(alert)  # still there: she has to answer yet


async def test_no_reply_needed_closes_the_clock(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    feed.ingest([client_message("m1", speed.now(), text="Merci !")])

    async with running(service(settings, engine, speed)):
        [alert] = await messages_to(fake, ANA, 1)
        toast = await press(fake, ANA, alert, f"noreply:{alert_id(engine)}")
        await fake.wait_for_async("editMessageText")

    assert toast == "Closed: no reply needed."
    [clock] = clocks(engine)
    assert (clock.outcome, clock.stopped_by_staff) == ("no_reply_needed", staff["ana"])
    assert deliveries(engine) == []
    assert buttons(fake.message(ANA, alert["message_id"])) == [
        [("Open", None, "https://tracker.example/T1")]
    ]


async def test_a_canned_reply_in_the_clients_language_is_sent_once(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    feed.ingest([client_message("m1", speed.now(), client="Bigco", text="Any news?")])  # en

    async with running(service(settings, engine, speed)):
        [alert] = await messages_to(fake, ANA, 1)
        nid = alert_id(engine)
        first = await press(fake, ANA, alert, f"canned:{nid}:1")
        second = await press(fake, ANA, alert, f"canned:{nid}:0")
        bogus = await press(fake, ANA, alert, f"canned:{nid + 1}:0")
        await messages_to(fake, ANA, 2)

    assert (first, second, bogus) == (
        "Reply recorded.",
        "A reply was already sent from this message.",
        "This button no longer works.",
    )
    replies = [e for e in events(engine) if e.author_role == "staff"]
    assert [(e.text, e.author_name) for e in replies] == [
        ("Noted: we're on it today and will keep you posted.", "Ana")
    ]
    assert clocks(engine)[0].outcome == "met"
    labels = [[label for label, _, _ in row] for row in buttons(alert)]
    assert labels == [
        ["Take it", "No reply needed"],
        ["Got it", "On it today", "A quick call?"],
        ["Open"],
    ]
    assert "✓ Ana replied: On it today" in fake.message(ANA, alert["message_id"])["text"]
    assert sent_to(fake, ANA)[1]["text"].startswith("✓ Reply recorded on the thread.")


async def test_buttons_fit_telegram_and_open_is_a_link_to_the_task(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    feed.ingest([client_message("m1", speed.now())])

    async with running(service(settings, engine, speed)):
        [alert] = await messages_to(fake, ANA, 1)

    rows = buttons(alert)
    assert rows[-1] == [("Open", None, "https://tracker.example/T1")]
    assert [label for label, _, _ in rows[1]] == ["Bien reçu", "On s'en occupe", "Un appel ?"]
    datas = [data for row in rows for _, data, _ in row if data]
    assert datas and all(len(data.encode()) <= 64 for data in datas)


# -- commands --------------------------------------------------------------------------------


async def test_queue_lists_my_running_clocks_most_urgent_first(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    sam = {"name": "Sam Staff", "email": "sam@agency.example", "role": "staff"}
    now = speed.now()
    feed.ingest(
        [
            {
                **client_message("a1", now, task="T2", client="Bigco"),
                "kind": "assignee",
                "assignee": sam,
                "author": sam,
                "text": "",
            },
            client_message("m1", now, task="T1", client="Acme"),
            client_message("m2", now, task="T2", client="Bigco"),  # vip: due sooner
            client_message("m3", now, task="T3", client="<Hostile & Co>"),
        ]
    )

    async with running(service(settings, engine, speed)):
        fake.push_command(ANA, ANA, "queue")
        fake.push_command(SAM, SAM, "queue")
        fake.push_command(MAX, MAX, "queue")
        await until(
            lambda: all(
                any("clock" in m["text"] for m in sent_to(fake, chat)) for chat in (ANA, SAM, MAX)
            )
        )

    ana = next(m["text"] for m in sent_to(fake, ANA) if "clock" in m["text"])
    assert ana.startswith("<b>2 running clocks</b>")
    assert ana.index("Acme") < ana.index("&lt;Hostile &amp; Co&gt;")
    assert "Bigco" not in ana
    assert ">Task T1</a>" in ana
    sam_text = next(m["text"] for m in sent_to(fake, SAM) if "clock" in m["text"])
    assert sam_text.startswith("<b>1 running clock</b>") and "Bigco" in sam_text
    assert "No running clocks" in sent_to(fake, MAX)[-1]["text"]
    assert len(running_clocks(EngineReader(engine))) == 3


async def test_mute_holds_alerts_until_off(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram, staff: dict[str, int]
) -> None:
    async with running(service(settings, engine, speed)):
        asked = speed.now()
        fake.push_command(SAM, SAM, "mute", "2h")
        await messages_to(fake, SAM, 1)
        answered = speed.now()
        muted = find_staff(engine, staff["sam"]).muted_until
        fake.push_command(SAM, SAM, "mute", "forever")
        await messages_to(fake, SAM, 2)
        fake.push_command(SAM, SAM, "mute", "off")
        await messages_to(fake, SAM, 3)

    two_hours = timedelta(hours=2)
    assert muted is not None and asked + two_hours <= muted <= answered + two_hours
    said = [m["text"] for m in sent_to(fake, SAM)]
    assert said[0].startswith("Alerts held until")
    assert said[1].startswith("Say how long")
    assert said[2] == "Alerts are on again."
    assert find_staff(engine, staff["sam"]).muted_until is None


# -- clients' groups ------------------------------------------------------------------------


async def test_linking_a_group_makes_its_messages_events_that_open_and_stop_clocks(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pmdesk.bot")
    feed.ingest([client_message("c-0", speed.now(), client="Acme")])
    before = len(events(engine))

    async with running(service(settings, engine, speed)):
        fake.push_message(GROUP, CLIENT_USER, "Avant le lien", chat_title="Acme × Atelier")
        fake.push_command(GROUP, STRANGER, "link", "Acme")
        fake.push_command(GROUP, ANA, "link", "Acne")
        [unknown] = await messages_to(fake, GROUP, 1)
        sent = await messages_to(fake, ANA, 2)  # her alert about c-0, and this
        [privately] = [m for m in sent if "no client" in m["text"]]
        fake.push_command(GROUP, ANA, "link", "acme")
        await messages_to(fake, GROUP, 2)
        fake.push_message(GROUP, CLIENT_USER, "Bonjour, une question", first_name="Claire")
        await until(lambda: len(clocks(engine)) == 2, what="a clock on the group")
        fake.push_message(GROUP, SAM, "On s'en occupe !")
        await until(lambda: clocks(engine)[-1].outcome == "met", what="the clock stopped")

    # The closest clients' names go to Ana alone, never to a client's group.
    assert privately["text"] == "no client 'Acne' (did you mean Acme?)"
    assert unknown["text"] == NO_SUCH_CLIENT
    assert sent_to(fake, GROUP)[1]["text"].startswith("This group is now Acme's")
    in_group = events(engine)[before:]
    assert [(e.source, e.author_role, e.text) for e in in_group] == [
        ("telegram", "client", "Bonjour, une question"),
        ("telegram", "staff", "On s'en occupe !"),
    ]
    assert clocks(engine)[-1].stopped_by_staff == staff["sam"]
    thread = thread_detail(EngineReader(engine), in_group[0].thread_id)
    assert thread is not None and (thread.client, thread.kind) == ("Acme", "chat")
    logged = [r.getMessage() for r in caplog.records]
    assert any("linked to no client" in line for line in logged)
    assert any(line.startswith("refused") and f"user {STRANGER}" in line for line in logged)
    assert len(sent_to(fake, GROUP)) == 2  # the stranger's /link got no answer


async def test_only_managers_and_assistants_link_a_group_and_other_names_stay_private(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    feed.ingest(
        [
            client_message("c-0", speed.now(), client="Acme"),
            client_message("c-1", speed.now(), client="Acme Industries", task="T2"),
        ]
    )
    link_chat(engine, GROUP, "Acme", staff["ana"], speed.now())
    await_alerts = len(notification_rows(engine))

    async with running(service(settings, engine, speed)):
        await messages_to(fake, ANA, await_alerts)
        fake.push_command(GROUP, SAM, "link", "Acme Industries")  # a specialist re-links
        [refused] = await messages_to(fake, GROUP, 1)
        fake.push_command(GROUP, MAX, "link", "Acmee")  # a manager mistypes
        _, unknown = await messages_to(fake, GROUP, 2)
        [privately] = await messages_to(fake, MAX, 1)
        fake.push_command(GROUP, MAX, "link", "Acme Industries")
        await messages_to(fake, GROUP, 3)

    assert refused["text"] == NOT_A_LINKER
    assert unknown["text"] == NO_SUCH_CLIENT
    in_group = " ".join(m["text"] for m in sent_to(fake, GROUP)[:2])
    assert "Acme" not in in_group  # no client named in the group before it was linked
    assert "did you mean Acme, Acme Industries?" in privately["text"]
    linked = client_for_chat(engine, GROUP)
    assert linked is not None and linked.name == "Acme Industries"  # by Max, not by Sam


async def test_only_an_alerts_recipient_acts_on_it(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    feed.ingest([client_message("m1", speed.now())])

    async with running(service(settings, engine, speed)):
        [alert] = await messages_to(fake, ANA, 1)
        nid = alert_id(engine)
        # Sam presses a button of Ana's alert, and replies to it (it was forwarded to him).
        fake.push_callback(SAM, ANA, alert["message_id"], f"take:{nid}")
        [answered] = await fake.wait_for_async("answerCallbackQuery")
        fake.push_callback(SAM, ANA, alert["message_id"], f"canned:{nid}:0")
        await fake.wait_for_async("answerCallbackQuery", count=2)
        fake.push_message(ANA, SAM, "Je prends", reply_to_message_id=alert["message_id"])
        told = (await messages_to(fake, ANA, 2))[1]

    assert answered.params["text"] == NOT_YOURS
    assert [c.params["text"] for c in fake.calls("answerCallbackQuery")] == [NOT_YOURS] * 2
    assert told["text"] == NOT_YOURS
    assert thread_detail(EngineReader(engine), 1).assignees == []  # type: ignore[union-attr]
    assert [e.author_role for e in events(engine)] == ["client"]  # nothing recorded
    assert clocks(engine)[0].outcome == "running"


# -- failures, restarts, limits ---------------------------------------------------------------


def spread(engine: Engine, feed: Ingestor, speed: SpeedClock, per_chat: int) -> list[str]:
    """Client messages on three threads, one for each of Ana, Sam and Max; their texts."""
    sam = {"name": "Sam Staff", "email": "sam@agency.example", "role": "staff"}
    max_ = {"name": "Max", "email": "max@agency.example", "role": "staff"}
    now = speed.now()
    setup = [
        {
            **client_message(f"a-{task}", now, task=task),
            "kind": "assignee",
            "assignee": who,
            "author": who,
            "text": "",
        }
        for task, who in (("T2", sam), ("T3", max_))
    ]
    feed.ingest(setup)
    texts = []
    batch = []
    for n in range(per_chat):
        for task in ("T1", "T2", "T3"):
            texts.append(f"message {n} on {task}")
            batch.append(client_message(f"m-{task}-{n}", now, task=task, text=texts[-1]))
    feed.ingest(batch)
    return texts


def delivered_in_order(fake: FakeTelegram, texts: list[str]) -> None:
    """Every text reached its chat exactly once, each chat's in the order written."""
    by_chat = {ANA: "T1", SAM: "T2", MAX: "T3"}
    for chat, task in by_chat.items():
        got = [
            m["text"].split("\n")[1].removeprefix("Claire Client: ") for m in sent_to(fake, chat)
        ]
        assert got == [text for text in texts if text.endswith(task)]


async def test_an_outage_then_recovery_delivers_everything_once_and_in_order(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    def failed() -> list[Any]:
        return [c for c in fake.calls("sendMessage") if c.status == 502]

    def tried_twice() -> bool:
        return all(len([c for c in failed() if c.params["chat_id"] == chat]) >= 2 for chat in CHATS)

    async with running(service(settings, engine, speed)):
        fake.go_down()  # once the bot is up: it retries getMe on its own otherwise
        texts = spread(engine, feed, speed, per_chat=4)
        down_since = speed.elapsed()
        # 30 s of outage, and long enough for every chat to have been retried.
        await until(lambda: speed.elapsed() - down_since >= 30 and tried_twice(), what="outage")
        outage, during = speed.elapsed() - down_since, failed()
        fake.come_up()
        await until(lambda: all(r["status"] == "sent" for r in notification_rows(engine)))

    delivered_in_order(fake, texts)
    assert len([c for c in fake.calls("sendMessage") if c.ok]) == len(texts)
    # Each chat tried its first row again and again, and nothing else: no later row
    # overtook it.
    for chat, task in zip(CHATS, ("T1", "T2", "T3"), strict=True):
        tried = {c.params["text"] for c in during if c.params["chat_id"] == chat}
        assert len(tried) == 1 and f"message 0 on {task}" in tried.pop()
    # Backing off 1, 2, 4, 8... s: a handful of tries, not one every 10 ms.
    assert len(during) <= len(CHATS) * (math.log2(outage) + 2)


@pytest.mark.parametrize("timedeltas", ["true", "false"])
@pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
async def test_a_429_stops_every_call_until_retry_after(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
    monkeypatch: pytest.MonkeyPatch,
    timedeltas: str,
) -> None:
    # retry_after as a timedelta, or as an int (the library's own default, which warns).
    monkeypatch.setenv("PTB_TIMEDELTA", timedeltas)
    fake.rate_limit_next("sendMessage", 1, retry_after=5)

    async with running(service(settings, engine, speed)):
        feed.ingest([client_message("first", speed.now(), text="message first on T1")])
        [refused] = await fake.wait_for_async(lambda c: c.status == 429)
        # Rows for every chat come while Telegram wants us to wait.
        texts = ["message first on T1", *spread(engine, feed, speed, per_chat=2)]
        await until(lambda: all(r["status"] == "sent" for r in notification_rows(engine)))

    calls = fake.calls("sendMessage")
    assert [c for c in calls if c.at > refused.at] == [c for c in calls if c.at >= refused.at + 5]
    assert len(calls) == len(texts) + 1
    delivered_in_order(fake, texts)
    rows = notification_rows(engine)
    assert [r["attempts"] for r in rows] == [2] + [1] * (len(rows) - 1)


async def test_a_restart_with_a_full_outbox_delivers_everything_once(
    engine: Engine,
    settings: Settings,
    fake: FakeTelegram,
    staff: dict[str, int],
) -> None:
    slow = SpeedClock(factor=10)  # 10 a chat: about a second of wall time
    feed = ingestor(engine, settings, slow)
    texts = spread(engine, feed, slow, per_chat=10)

    async with running(service(settings, engine, slow)):
        await until(lambda: len(fake.sent_messages()) >= 6, what="the drain under way")
    left = [r for r in notification_rows(engine) if r["status"] == "pending"]
    async with running(service(settings, engine, slow)):
        await until(lambda: all(r["status"] == "sent" for r in notification_rows(engine)))

    assert left, "the first bot should have been stopped mid-drain"
    delivered_in_order(fake, texts)
    assert len(fake.sent_messages()) == len(texts)


async def test_hostile_text_is_escaped_and_cut_within_telegrams_limit(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    hostile = "<b>bold</b> & <a href='javascript:x'>" * 125  # 5,000 characters
    event = client_message("m1", speed.now(), text=hostile, client="<i>Acme</i>")
    event["task"]["title"] = "</b><script>"
    feed.ingest([event])

    async with running(service(settings, engine, speed)):
        [alert] = await messages_to(fake, ANA, 1)

    html = alert["text"]
    assert len(html) <= 4096
    header, body = html.split("\n", 1)
    assert header == "💬 <b>&lt;i&gt;Acme&lt;/i&gt; · &lt;/b&gt;&lt;script&gt;</b>"
    cut, rest = body.split("…", 1)
    assert "<" not in cut and "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;a href='javascript:x'&gt;" in cut
    assert rest.startswith(' <a href="https://tracker.example/T1">Read it all</a>')
    assert fake.calls("sendMessage")[0].params["parse_mode"] == "HTML"


async def test_someone_not_on_telegram_is_skipped_and_a_blocked_bot_fails_that_row_only(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    spread(engine, feed, speed, per_chat=2)
    unbind(engine, ANA)  # Ana's alerts have nowhere to go
    fake.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")

    async with running(service(settings, engine, speed)):
        await until(lambda: all(r["status"] != "pending" for r in notification_rows(engine)))

    outcome = {
        who: sorted(
            (r["status"], r["error"])
            for r in notification_rows(engine)
            if r["recipient_id"] == staff[who]
        )
        for who in staff
    }
    assert outcome["ana"] == [("skipped", "not on Telegram")] * 2
    blocked = ("failed", "Forbidden: bot was blocked by the user")
    # The first send went to Sam or Max; the other row of that chat still went out.
    assert sorted(outcome["sam"] + outcome["max"]) == [blocked, *[("sent", None)] * 3]
    assert calls_about(fake, ANA) == []


async def test_a_message_telegram_took_is_not_sent_again_when_it_cannot_be_recorded(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def locked(*args: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(bots.telegram.sender, "mark_sent", locked)
    feed.ingest([client_message("m1", speed.now()), client_message("m2", speed.now())])

    async with running(service(settings, engine, speed)):
        await messages_to(fake, ANA, 2)
        await asyncio.sleep(0.2)  # twenty more looks at the outbox

    assert len(sent_to(fake, ANA)) == 2  # each once, though both rows are still pending
    assert [row["status"] for row in notification_rows(engine)] == ["pending", "pending"]


async def test_a_row_that_cannot_be_rendered_backs_off_instead_of_spinning(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> str:
        raise ValueError("a bug")

    monkeypatch.setattr(bots.telegram.sender, "notification_html", broken)
    feed.ingest([client_message("m1", speed.now())])

    def attempts() -> int:
        [row] = notification_rows(engine)
        return int(row["attempts"])

    # Timed by the attempts themselves, not by a count within a window of
    # real time: a slow moment of a shared host (a sync, a pause) delays
    # the retries, it never brings them closer.
    async with running(service(settings, engine, speed)):
        await until(lambda: attempts() >= 1, what="a first attempt")
        seen, first = attempts(), speed.elapsed()
        await until(lambda: attempts() >= seen + 3, what="three attempts more")
        spacing = speed.elapsed() - first

    [row] = notification_rows(engine)
    assert row["status"] == "pending" and row["error"] == "internal error: ValueError('a bug')"
    # Seen at `seen` attempts, so before the next one; the two waits after
    # that one are 2 s and 4 s or more (1, 2, 4, 8 s from the first failure).
    # Retried at every pass of the sender, three more would come within a
    # second or two.
    assert spacing >= 6, spacing
    assert fake.calls("sendMessage") == []


# -- fencing: the services lease ------------------------------------------------------------


async def test_a_sender_whose_lease_was_taken_over_sends_nothing_and_says_so(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    acquire(engine, "paused", {}, speed.now(), timedelta(seconds=30))
    feed.ingest([client_message("m1", speed.now())])
    # The holder was paused; another process took the lease after it lapsed.
    acquire(engine, "new", {}, speed.now() + timedelta(seconds=31), timedelta(days=1))
    lost = asyncio.Event()

    bot = service(settings, engine, speed, holder="paused", on_lease_lost=lost.set)
    async with running(bot):
        await asyncio.wait_for(lost.wait(), timeout=4)

    assert sent_to(fake, ANA) == []
    assert [row["status"] for row in notification_rows(engine)] == ["pending"]  # the new holder's


async def test_a_row_settled_elsewhere_after_it_was_fetched_is_not_sent(
    engine: Engine,
    settings: Settings,
    speed: SpeedClock,
    fake: FakeTelegram,
    staff: dict[str, int],
    feed: Ingestor,
) -> None:
    acquire(engine, "holder", {}, speed.now(), timedelta(days=1))
    feed.ingest([client_message("m1", speed.now())])
    bot = service(settings, engine, speed, holder="holder")

    async with bot.application:
        await bot.sender.dispatch()  # fetched, handed to Ana's chat's worker
        # Meanwhile, another process sent it (the holder was paused here).
        mark_sent(engine, alert_id(engine), speed.now(), ANA, 99)
        await until(lambda: not bot.sender._workers, what="the worker done")

    assert sent_to(fake, ANA) == []


async def test_strangers_private_messages_are_sorted_out_before_parsing_and_nothing_else(
    engine: Engine, settings: Settings, speed: SpeedClock, staff: dict[str, int]
) -> None:
    bot = service(settings, engine, speed)
    access = bot._access
    assert access is not None

    def private(update_id: int, user: int, text: str) -> dict[str, Any]:
        sender = {"id": user, "is_bot": False, "first_name": "X"}
        chat = {"id": user, "type": "private"}
        return {"update_id": update_id, "message": {"from": sender, "chat": chat, "text": text}}

    raw = [
        private(1, STRANGER, "hello?"),
        private(2, ANA, "/queue"),
        private(3, NINA, "/start SOMECODE"),  # an invite: the gate's to judge
        {
            **private(4, STRANGER, "x"),
            "message": {
                **private(4, STRANGER, "x")["message"],
                "chat": {"id": GROUP, "type": "supergroup"},
            },
        },
        {"update_id": 5, "callback_query": {"id": "9", "from": {"id": STRANGER}}},
    ]
    # The staff's accounts not read yet: nothing can be told apart, all goes to the gate.
    assert access.sort_out(raw) == raw
    await bot.io.may_be_staff(ANA)
    sorted_out = access.sort_out(raw)

    assert sorted_out[0] == {"update_id": 1}  # refused, not parsed
    assert sorted_out[1:] == raw[1:]
    assert len(bot.io.refusals) == 1
    await bot.io.refusals.close()
