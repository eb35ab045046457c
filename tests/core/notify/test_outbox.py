"""The outbox: who is told what, when, and how the bot drains it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

import core.conversations.ingest
import core.notify.rules
from core.conversations.actions import reply
from core.conversations.clients import set_client_policy
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff, mute, remove_staff
from core.notify.drain import (
    UnknownDelivery,
    UnknownNotification,
    due_deliveries,
    due_notifications,
    mark_delivered,
    mark_delivery_failed,
    mark_failed,
    mark_retry,
    mark_sent,
    mark_skipped,
    notification_for_message,
    pending_count,
)
from core.notify.rules import next_clock_alert_at, notify_clocks
from core.sla.policies import PolicyBook
from core.store.db import open_database
from core.store.models.outbox import Delivery, Notification
from core.store.models.system import table
from core.store.models.threads import Clock, Event
from core.store.reader import Reader
from tests.conftest import round_the_clock_settings
from tests.support import START, MovableClock, make_event

NOTIFICATION = table(Notification)
SAM = {"name": "Sam Staff", "email": "sam@agency.example", "role": "staff"}


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def notifications(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(NOTIFICATION).order_by(NOTIFICATION.c.id))
        return [dict(row._mapping) for row in rows]


def told(engine: Engine) -> list[tuple[str, int]]:
    """(kind, recipient) of every notification, in order."""
    return [(row["kind"], row["recipient_id"]) for row in notifications(engine)]


def assign_sam(minute: float = 0, task: str = "T1") -> dict[str, Any]:
    return make_event(
        f"a-{task}-{minute}", minute, role="staff", kind="assignee", task=task, assignee=SAM
    )


@pytest.fixture
def team(engine: Engine) -> dict[str, int]:
    """An assistant, a specialist (Sam, who writes the staff events) and a manager."""
    return {
        "ana": add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START),
        "sam": add_staff(engine, "Sam Staff", "specialist", ["sam@agency.example"], START),
        "max": add_staff(engine, "Max", "manager", ["max@agency.example"], START),
    }


# -- client messages -------------------------------------------------------------


def test_a_client_message_tells_the_assignee(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([assign_sam(0)])

    [result] = ingestor.ingest([make_event("m1", 1, text="Le formulaire [bold]ne marche[/] pas")])

    [row] = notifications(engine)
    assert (row["kind"], row["recipient_id"]) == ("client_message", team["sam"])
    assert row["dedupe_key"] == f"message:{result.event_id}:{team['sam']}"
    assert row["event_id"] == result.event_id
    assert row["clock_id"] is not None and row["thread_id"] is not None
    # Plain text, client's words as written: the bot escapes them.
    assert row["text"] == "Acme · Task T1\nClaire Client: Le formulaire [bold]ne marche[/] pas"
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 0, None)
    assert row["created_at"] == START


def test_a_message_s_notification_says_the_thread_as_stored_after_its_batch(
    engine: Engine, settings: Any, clock: MovableClock, team: dict[str, int]
) -> None:
    """The batch describes its messages itself, as they are once it is stored."""
    first = Ingestor(engine, PolicyBook(settings), clock=clock)
    first.ingest([make_event("m1", 0), make_event("r1", 1, role="staff")])
    renamed = make_event("m2", 2, author={"name": "Zoé", "role": "client"})
    renamed["task"]["title"] = "Renamed"
    first.ingest([renamed, make_event("m3", 3, task="T9", client=None)])
    # A restarted process knows no client by name yet: it reads the thread's.
    later = Ingestor(engine, PolicyBook(settings), clock=clock)
    later.ingest([make_event("r2", 4, role="staff"), make_event("m4", 5, client=None)])

    texts = [row["text"] for row in notifications(engine)]
    # m1 was answered in its batch: no one is told.
    assert texts == [
        "Acme · Renamed\nZoé: text of m2",
        "Task T9\nClaire Client: text of m3",
        "Acme · Task T1\nClaire Client: text of m4",  # the newest event's title
    ]


def test_without_an_assignee_the_assistant_on_duty_is_told(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    later = add_staff(engine, "Bea", "assistant", ["bea@agency.example"], START)

    ingestor.ingest([make_event("m1", 0)])
    # The first assistant leaves: the next one registered is on duty.
    remove_staff(engine, team["ana"])
    ingestor.ingest([make_event("m2", 1)])

    assert told(engine) == [("client_message", team["ana"]), ("client_message", later)]


def test_a_removed_assignee_is_replaced_by_the_assistant_on_duty(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([assign_sam(0)])
    remove_staff(engine, team["sam"])

    ingestor.ingest([make_event("m1", 1)])

    assert told(engine) == [("client_message", team["ana"])]


def test_with_nobody_to_tell_nothing_is_written(ingestor: Ingestor, engine: Engine) -> None:
    ingestor.ingest([make_event("m1", 0)])

    assert notifications(engine) == []


def test_notes_staff_messages_and_changes_tell_no_one(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ingestor.ingest(
        [
            make_event("n1", 1, internal=True, text="client-side note"),
            make_event("n2", 2, role="staff", internal=True),
            make_event("s1", 3, role="staff", kind="status", status="In progress"),
            make_event("d1", 4, role="staff", kind="deadline", deadline="2026-12-01"),
        ]
    )

    assert told(engine) == [("client_message", team["ana"])]


def test_a_message_answered_in_its_own_batch_tells_no_one(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0), make_event("r1", 2, role="staff")])
    assert notifications(engine) == []

    [waiting] = ingestor.ingest([make_event("m2", 30)])

    assert [row["event_id"] for row in notifications(engine)] == [waiting.event_id]


def test_messages_of_one_instant_are_told_only_after_the_last_reply(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    # One instant, ordered by id: a1 is answered by b1, c1 opens a new clock.
    results = ingestor.ingest(
        [make_event("a1", 0), make_event("b1", 0, role="staff"), make_event("c1", 0)]
    )

    assert [row["event_id"] for row in notifications(engine)] == [results[2].event_id]


def test_each_new_message_on_a_waiting_thread_is_told(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ingestor.ingest([make_event("m2", 3), make_event("m3", 4)])

    assert len(notifications(engine)) == 3
    assert len({row["clock_id"] for row in notifications(engine)}) == 1


def test_a_late_message_still_waiting_is_told_after_a_replay(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("s1", 10, role="staff", kind="status", status="Waiting")])

    # Older than what the thread has seen: the thread is replayed.
    [late] = ingestor.ingest([make_event("m1", 5)])

    [row] = notifications(engine)
    assert row["event_id"] == late.event_id


def test_a_clock_dropped_by_a_replay_leaves_its_notifications_unlinked(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m2", 10)])
    [before] = notifications(engine)

    # An earlier message turns up: it opens the thread's clock, m2's goes.
    [late] = ingestor.ingest([make_event("m1", 0)])

    first, second = notifications(engine)
    assert (first["id"], first["clock_id"]) == (before["id"], None)
    assert second["event_id"] == late.event_id
    with engine.connect() as connection:
        opener = connection.execute(
            select(table(Clock).c.opened_by).where(table(Clock).c.id == second["clock_id"])
        ).scalar_one()
    assert opener == late.event_id


def test_history_older_than_the_horizon_tells_no_one(
    engine: Engine, team: dict[str, int], clock: MovableClock
) -> None:
    clock.advance(days=2)  # imported two days after it was written
    ingestor = Ingestor(engine, PolicyBook(round_the_clock_settings()), clock=clock)

    ingestor.ingest([make_event("m1", 0)])

    assert notifications(engine) == []


def test_the_same_event_twice_is_told_once(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ingestor.ingest([make_event("m1", 0)])
    ingestor.ingest([make_event("m1", 0), make_event("m1", 0)])

    assert len(notifications(engine)) == 1


def test_notifications_roll_back_with_their_batch(
    ingestor: Ingestor, engine: Engine, team: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = core.notify.rules.queue_message_notifications

    def queue_then_fail(*args: Any) -> int:
        written = queue(*args)
        assert written == 1
        raise RuntimeError("disk full")

    monkeypatch.setattr(core.conversations.ingest, "queue_message_notifications", queue_then_fail)
    [result] = ingestor.ingest([make_event("m1", 0)])

    # The event at fault is rejected alone (core.conversations.ingest), its notification with it.
    assert result.status == "rejected"
    assert result.reason == "could not be stored: internal error (RuntimeError)"
    assert notifications(engine) == []
    with engine.connect() as connection:
        assert connection.execute(select(table(Event))).first() is None


# -- clock alerts ---------------------------------------------------------------


def test_warning_breach_and_escalation_come_at_their_times(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([assign_sam(0), make_event("m1", 0)])
    message = notifications(engine)

    assert notify_clocks(engine, at(9.99)) == 0
    assert notify_clocks(engine, at(10)) == 2  # warn_at: 5 minutes before due
    assert notify_clocks(engine, at(12)) == 0
    assert notify_clocks(engine, at(15)) == 2  # due_at
    assert notify_clocks(engine, at(29)) == 0
    assert notify_clocks(engine, at(30)) == 1  # escalate_at
    assert notify_clocks(engine, at(45)) == 0

    alerts = notifications(engine)[len(message) :]
    assert [(row["kind"], row["recipient_id"]) for row in alerts] == [
        ("clock_warning", team["sam"]),
        ("clock_warning", team["ana"]),
        ("clock_breach", team["sam"]),
        ("clock_breach", team["ana"]),
        ("clock_escalation", team["max"]),
    ]
    clock_id = alerts[0]["clock_id"]
    assert alerts[0]["dedupe_key"] == f"warning:{clock_id}:{team['sam']}"
    assert alerts[-1]["dedupe_key"] == f"escalation:{clock_id}:{team['max']}"
    assert alerts[-1]["text"] == (
        "Acme · Task T1\nEscalation: still no reply. Claire Client wrote: text of m1"
    )


def test_a_clock_found_already_due_gets_no_warning(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0)])

    assert notify_clocks(engine, at(31)) == 2
    assert notify_clocks(engine, at(32)) == 0

    assert told(engine) == [
        ("client_message", team["ana"]),
        ("clock_breach", team["ana"]),
        ("clock_escalation", team["max"]),
    ]


def test_an_assistant_assigned_to_the_thread_is_told_once(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ana = {"name": "Ana", "email": "ana@agency.example", "role": "staff"}
    ingestor.ingest(
        [make_event("a1", 0, role="staff", kind="assignee", assignee=ana), make_event("m1", 0)]
    )

    assert notify_clocks(engine, at(10)) == 1


def test_every_active_manager_hears_of_an_escalation(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    other = add_staff(engine, "Mia", "manager", ["mia@agency.example"], START)
    gone = add_staff(engine, "Old", "manager", ["old@agency.example"], START)
    remove_staff(engine, gone)
    ingestor.ingest([make_event("m1", 0)])

    notify_clocks(engine, at(30))

    escalations = [who for kind, who in told(engine) if kind == "clock_escalation"]
    assert escalations == [team["max"], other]


def test_a_moved_clock_alerts_at_its_new_times(
    ingestor: Ingestor, engine: Engine, team: dict[str, int], reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    assert next_clock_alert_at(reader, at(0)) == at(10)

    # The client becomes VIP: 10 minutes, warned 3 before.
    policies = PolicyBook(round_the_clock_settings())
    set_client_policy(engine, policies, "Acme", "vip", "ana", clock=lambda: at(1))

    assert next_clock_alert_at(reader, at(1)) == at(7)
    assert notify_clocks(engine, at(6.9)) == 0
    assert notify_clocks(engine, at(7)) == 1
    assert notify_clocks(engine, at(10)) == 1
    assert [kind for kind, _ in told(engine)] == ["client_message", "clock_warning", "clock_breach"]


def test_answered_clocks_raise_no_alert(
    ingestor: Ingestor, engine: Engine, team: dict[str, int], reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    ingestor.ingest([make_event("r1", 5, role="staff")])

    assert notify_clocks(engine, at(40)) == 0
    assert next_clock_alert_at(reader, at(5)) is None


def test_alerts_older_than_the_horizon_are_history(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0)])

    assert notify_clocks(engine, at(60 * 25)) == 0
    # Within a wider horizon the breach is still news, and the escalation too.
    assert notify_clocks(engine, at(60 * 25), horizon=timedelta(hours=48)) == 2


def test_next_clock_alert_at_walks_through_the_stages(
    ingestor: Ingestor, engine: Engine, reader: Reader
) -> None:
    assert next_clock_alert_at(reader, at(0)) is None
    ingestor.ingest([make_event("m1", 0)])

    assert next_clock_alert_at(reader, at(0)) == at(10)
    assert next_clock_alert_at(reader, at(10)) == at(15)
    assert next_clock_alert_at(reader, at(15)) == at(30)
    assert next_clock_alert_at(reader, at(30)) is None


def test_concurrent_callers_write_each_alert_once(
    engine: Engine, engine_url: str, ingestor: Ingestor, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event(f"m{task}", 0, task=str(task)) for task in range(20)])
    engines = [open_database(engine_url) for _ in range(4)]
    start = threading.Barrier(len(engines))
    written: list[int] = []

    def run(other: Engine) -> None:
        start.wait()
        written.append(notify_clocks(other, at(31)))

    workers = [threading.Thread(target=run, args=(other,)) for other in engines]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for other in engines:
        other.dispose()

    alerts = [row for row in notifications(engine) if row["kind"] != "client_message"]
    assert sum(written) == len(alerts) == 40  # a breach and an escalation per clock
    assert len({row["dedupe_key"] for row in alerts}) == 40


# -- draining -----------------------------------------------------------------


def test_due_notifications_come_in_order_with_what_the_bot_needs(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0, client="Bigco"), make_event("m2", 1, task="T2")])

    first, second = due_notifications(engine, at(2))

    assert first.id < second.id
    assert (first.kind, first.recipient_id, first.recipient_name) == (
        "client_message",
        team["ana"],
        "Ana",
    )
    assert (first.recipient_role, first.telegram_id) == ("assistant", None)
    assert (first.client_name, first.client_language) == ("Bigco", "en")
    assert (first.thread_title, first.thread_url) == ("Task T1", "https://tracker.example/T1")
    assert (first.channel, first.clock_outcome, first.clock_due_at) == (
        "webhook",
        "running",
        at(10),
    )
    assert second.client_name == "Acme"
    assert [view.id for view in due_notifications(engine, at(2), limit=1)] == [first.id]
    assert pending_count(engine) == 2


@pytest.mark.sqlite_only  # SQLite's query plan
def test_the_drain_reads_the_pending_index(engine: Engine) -> None:
    # Sent rows pile up for ever; the drain must walk only the pending ones.
    executed: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        executed.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    due_notifications(engine, at(0))
    event.remove(engine, "before_cursor_execute", capture)

    [(statement, parameters)] = [(sql, args) for sql, args in executed if "notification" in sql]
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    assert "SCAN notification USING INDEX ix_notification_pending" in str(plan)


def test_retries_failures_and_skips_are_recorded(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0), make_event("m2", 0, task="T2")])
    first, second = due_notifications(engine, at(1))

    mark_retry(engine, first.id, at(1), "429: retry after 30", at(1.5))

    assert [view.id for view in due_notifications(engine, at(1.4))] == [second.id]
    [retried, _] = due_notifications(engine, at(1.5))
    assert (retried.attempts, retried.error, retried.next_attempt_at) == (
        1,
        "429: retry after 30",
        at(1.5),
    )
    mark_failed(engine, first.id, at(2), "403: bot blocked by the user")
    mark_skipped(engine, second.id, at(2), "not bound to Telegram")

    assert due_notifications(engine, at(60)) == []
    assert pending_count(engine) == 0
    rows = {row["id"]: row for row in notifications(engine)}
    assert (rows[first.id]["status"], rows[first.id]["attempts"]) == ("failed", 2)
    assert rows[first.id]["error"] == "403: bot blocked by the user"
    assert (rows[second.id]["status"], rows[second.id]["attempts"]) == ("skipped", 0)
    assert (rows[second.id]["error"], rows[second.id]["updated_at"]) == (
        "not bound to Telegram",
        at(2),
    )
    with pytest.raises(UnknownNotification):
        mark_sent(engine, 999, at(2), 1, 1)


def test_a_quick_reply_finds_its_thread_by_the_message_it_answers(
    ingestor: Ingestor, engine: Engine, team: dict[str, int], clock: MovableClock
) -> None:
    ingestor.ingest([assign_sam(0), make_event("m1", 0)])
    [view] = due_notifications(engine, at(1))
    mark_sent(engine, view.id, at(1), chat_id=987654321012, message_id=77)

    found = notification_for_message(engine, 987654321012, 77)

    assert found is not None and found.id == view.id
    assert (found.status, found.attempts, found.chat_id, found.message_id) == (
        "sent",
        1,
        987654321012,
        77,
    )
    assert notification_for_message(engine, 987654321012, 78) is None
    assert found.thread_id is not None
    clock.instant = at(3)
    result = reply(ingestor, found.thread_id, found.recipient_id, "On it!", clock=clock)
    assert result.status == "created"
    [delivery] = due_deliveries(engine, at(3))
    assert (delivery.event_id, delivery.channel, delivery.target) == (
        result.event_id,
        "webhook",
        "T1",
    )
    assert (delivery.text, delivery.author_id) == ("On it!", team["sam"])


def test_a_muted_recipient_is_held_not_skipped(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    mute(engine, team["ana"], at(60))
    ingestor.ingest([make_event("m1", 0)])

    assert due_notifications(engine, at(59)) == []
    assert pending_count(engine) == 1
    assert len(due_notifications(engine, at(60))) == 1

    mute(engine, team["ana"], None)
    assert len(due_notifications(engine, at(1))) == 1


# -- deliveries -----------------------------------------------------------------


def queued_reply(ingestor: Ingestor, engine: Engine, author: int) -> int:
    [message] = ingestor.ingest([make_event("m1", 0)])
    with engine.connect() as connection:
        thread_id = connection.execute(
            select(table(Event).c.thread_id).where(table(Event).c.id == message.event_id)
        ).scalar_one()
    result = reply(ingestor, thread_id, author, "Fixed, please try again.", clock=lambda: at(2))
    assert result.event_id is not None
    return result.event_id


def delivery(engine: Engine, event_id: int) -> dict[str, Any]:
    deliveries = table(Delivery)
    with engine.connect() as connection:
        row = connection.execute(select(deliveries).where(deliveries.c.event_id == event_id)).one()
    return dict(row._mapping)


def test_a_delivered_reply_keeps_the_channel_s_id(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    event_id = queued_reply(ingestor, engine, team["sam"])

    mark_delivered(engine, event_id, at(5), "comment-881")

    row = delivery(engine, event_id)
    assert (row["status"], row["attempts"], row["delivered_at"]) == ("delivered", 1, at(5))
    assert row["channel_message_id"] == "comment-881"
    assert due_deliveries(engine, at(5)) == []


def test_a_temporary_failure_waits_for_its_retry(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    event_id = queued_reply(ingestor, engine, team["sam"])

    mark_delivery_failed(engine, event_id, at(5), "timeout", permanent=False, retry_at=at(6))

    row = delivery(engine, event_id)
    assert (row["status"], row["attempts"], row["error"]) == ("pending", 1, "timeout")
    assert due_deliveries(engine, at(5.9)) == []
    assert [view.attempts for view in due_deliveries(engine, at(6))] == [1]
    with pytest.raises(ValueError, match="retry_at"):
        mark_delivery_failed(engine, event_id, at(6), "timeout", permanent=False)


def test_a_reply_that_cannot_be_delivered_tells_its_author_once(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    event_id = queued_reply(ingestor, engine, team["sam"])

    mark_delivery_failed(engine, event_id, at(5), "task deleted", permanent=True)
    mark_delivery_failed(engine, event_id, at(6), "task deleted", permanent=True)

    assert delivery(engine, event_id)["status"] == "failed"
    failed = [row for row in notifications(engine) if row["kind"] == "reply_failed"]
    assert [(row["recipient_id"], row["event_id"]) for row in failed] == [(team["sam"], event_id)]
    assert failed[0]["text"] == (
        "Acme · Task T1\nYour reply could not be delivered: task deleted\nFixed, please try again."
    )
    with pytest.raises(UnknownDelivery):
        mark_delivered(engine, 999, at(5), None)
