"""Client Telegram groups: linking them, and their messages through ingestion."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.conversations.actions import reply
from core.conversations.chats import chat_event, chat_url, client_for_chat, link_chat, unlink_chat
from core.conversations.clients import UnknownClient
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff, find_staff
from core.notify.drain import due_deliveries, due_notifications
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Clock, Thread
from tests.support import START, make_event

GROUP = -1001893400112
CLIENT_USER = 6_001_002_003


@pytest.fixture
def clients(ingestor: Ingestor) -> None:
    """Two clients, known from their tracker tasks (no client message, so no clock)."""
    ingestor.ingest(
        [
            make_event("s1", -60, role="staff", kind="status", status="To do", client="Acme"),
            make_event(
                "s2", -60, role="staff", kind="status", status="To do", task="T2", client="Bigco"
            ),
        ]
    )


def said(message_id: int, minute: float, text: str = "Bonjour !", **fields: Any) -> dict[str, Any]:
    """A client's message in the group, as the bot hands it over."""
    return chat_event(
        GROUP,
        message_id,
        START + timedelta(minutes=minute),
        "Acme",
        CLIENT_USER,
        "Claire Martin",
        text,
        title="Acme × Agency",
        **fields,
    )


def threads(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(table(Thread)).order_by(table(Thread).c.id))
        return [dict(row._mapping) for row in rows]


def test_a_group_is_linked_to_a_client_named_in_any_case(engine: Engine, clients: None) -> None:
    linked = link_chat(engine, GROUP, "acme", None, START, "Acme × Agency")

    assert linked.name == "Acme"
    assert client_for_chat(engine, GROUP) == linked
    assert client_for_chat(engine, -42) is None


def test_an_unknown_client_is_refused_with_close_names(engine: Engine, clients: None) -> None:
    with pytest.raises(UnknownClient, match=r"no client 'Acne' \(did you mean Acme\?\)"):
        link_chat(engine, GROUP, "Acne", None, START)
    with pytest.raises(UnknownClient, match=r"no client 'Zzz'$"):
        link_chat(engine, GROUP, "Zzz", None, START)
    assert client_for_chat(engine, GROUP) is None


def test_relinking_moves_the_group_and_its_thread(
    engine: Engine, ingestor: Ingestor, clients: None
) -> None:
    link_chat(engine, GROUP, "Acme", None, START)
    ingestor.ingest([said(1, 0)])

    sam = add_staff(engine, "Sam", "pm", [], START)
    linked = link_chat(engine, GROUP, "Bigco", sam, START, "Bigco × Agency")

    assert client_for_chat(engine, GROUP) == linked
    chat = next(thread for thread in threads(engine) if thread["kind"] == "chat")
    assert chat["client_id"] == linked.client_id


def test_unlinking_stops_following_the_group(engine: Engine, clients: None) -> None:
    link_chat(engine, GROUP, "Acme", None, START)

    assert unlink_chat(engine, GROUP) is True
    assert client_for_chat(engine, GROUP) is None
    assert unlink_chat(engine, GROUP) is False


def test_a_client_message_in_the_group_opens_a_clock_on_the_chat_thread(
    engine: Engine, ingestor: Ingestor, clients: None
) -> None:
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)

    first = ingestor.ingest([said(1, 0), said(1, 0)])

    assert [result.status for result in first] == ["created", "duplicate"]
    chat = threads(engine)[-1]
    assert (chat["kind"], chat["channel"], chat["title"]) == ("chat", "telegram", "Acme × Agency")
    assert chat["url"] == "https://t.me/c/1893400112"
    with engine.connect() as connection:
        clock = connection.execute(select(table(Clock))).one()
    assert (clock.thread_id, clock.outcome) == (chat["id"], "running")
    [told] = due_notifications(engine, START + timedelta(minutes=1))
    assert (told.recipient_id, told.thread_id, told.channel) == (ana, chat["id"], "telegram")
    assert told.text == "Acme · Acme × Agency\nClaire Martin: Bonjour !"


def test_staff_writing_in_the_group_answer_the_client(
    engine: Engine, ingestor: Ingestor, clients: None
) -> None:
    sam = add_staff(engine, "Sam", "pm", ["sam@agency.example"], START)
    ingestor.ingest([said(1, 0)])

    ingestor.ingest([said(2, 4, "On regarde.", staff=find_staff(engine, sam))])

    with engine.connect() as connection:
        clock = connection.execute(select(table(Clock))).one()
        deliveries = connection.execute(select(table(Delivery))).all()
    assert (clock.outcome, clock.stopped_by_staff) == ("met", sam)
    assert deliveries == []  # it is in the group already


def test_a_reply_from_pmdesk_on_a_group_goes_out_through_telegram(
    engine: Engine, ingestor: Ingestor, clients: None
) -> None:
    sam = add_staff(engine, "Sam", "pm", ["sam@agency.example"], START)
    ingestor.ingest([said(1, 0)])
    chat_thread = threads(engine)[-1]["id"]

    reply(ingestor, chat_thread, sam, "C'est corrigé.", clock=lambda: START + timedelta(minutes=3))

    [delivery] = due_deliveries(engine, START + timedelta(minutes=3))
    assert (delivery.channel, delivery.target) == ("telegram", str(GROUP))
    assert delivery.text == "C'est corrigé."


def test_the_event_is_what_the_ingestor_takes() -> None:
    paris = timezone(timedelta(hours=1))
    event = chat_event(
        -4001234, 7, datetime(2026, 11, 23, 10, 0, tzinfo=paris), "Acme", 5, "Claire", "Hi"
    )

    assert event == {
        "id": "-4001234:7",
        "source": "telegram",
        "kind": "message",
        "occurred_at": "2026-11-23T10:00:00+01:00",
        "client": "Acme",
        "task": {"id": "-4001234", "kind": "chat"},
        "author": {"name": "Claire", "id": "5", "role": "client"},
        "text": "Hi",
    }
    assert chat_url(-4001234) is None  # a basic group has no link
    with pytest.raises(ValueError, match="aware"):
        chat_event(-4001234, 7, datetime(2026, 11, 23, 10, 0), "Acme", 5, "Claire", "Hi")
