"""Recording tracker actions: one event and one pending delivery, or a clear refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff, remove_staff
from core.sla.policies import PolicyBook
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Clock, Event, Thread
from core.store.models.tracker import TRACKER_CHANNEL, TrackerAction
from core.tracker.actions import Tracker, TrackerRefused, find_target
from tests.support import MovableClock, make_event

EVENT, DELIVERY, ACTION = table(Event), table(Delivery), table(TrackerAction)
THREAD, CLOCK = table(Thread), table(Clock)


@pytest.fixture
def ingestor(engine: Engine, settings: Settings, clock: MovableClock) -> Ingestor:
    return Ingestor(engine, PolicyBook(settings), clock)


@pytest.fixture
def tracker(ingestor: Ingestor, settings: Settings, clock: MovableClock) -> Tracker:
    return Tracker(ingestor, settings, clock)


@pytest.fixture
def sam(engine: Engine, clock: MovableClock) -> int:
    add_staff(engine, "Anna", "specialist", ["anna@agency.example"], clock())
    add_staff(engine, "Noemail", "specialist", [], clock())
    return add_staff(engine, "Sam", "assistant", ["sam@agency.example"], clock())


@pytest.fixture
def thread_id(ingestor: Ingestor, engine: Engine) -> int:
    """A Worksection task's thread, a client waiting on it, and a Telegram chat's thread."""
    ingestor.ingest_one(make_event("c1", 0, task="4211", source="worksection"))
    ingestor.ingest_one(make_event("t1", 0, task="chat-9", source="telegram"))
    with engine.connect() as connection:
        return int(connection.execute(select(func.min(THREAD.c.id))).scalar_one())


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(name)).scalar_one()
            for name in (EVENT, DELIVERY, ACTION)
        )


def stored(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(ACTION, DELIVERY.c.channel, DELIVERY.c.status, EVENT.c.kind, EVENT.c.text)
                .join(DELIVERY, DELIVERY.c.event_id == ACTION.c.event_id)
                .join(EVENT, EVENT.c.id == ACTION.c.event_id)
                .order_by(ACTION.c.event_id)
            )
        )


def test_a_thread_is_named_by_its_number_or_its_task(engine: Engine, thread_id: int) -> None:
    for ref in (
        thread_id,
        f"#{thread_id}",
        "ws:4211",
        "https://x.worksection.com/project/77/4211/",
    ):
        target = find_target(engine, ref)
        assert (target.thread_id, target.task_id) == (thread_id, "4211")


def test_each_action_is_an_event_and_a_pending_delivery_with_what_to_send(
    tracker: Tracker, engine: Engine, thread_id: int, sam: int
) -> None:
    tracker.deadline(thread_id, sam, "12.12.2026")
    tracker.todo(thread_id, sam, ["Logo\n\nFonts"])
    tracker.subtask(thread_id, sam, "  Wire   frames ", owner="anna", deadline="+2", todo=["Home"])
    tracker.owner(thread_id, sam, "Anna")
    tracker.owner(thread_id, sam, None)
    tracker.close(thread_id, sam)
    tracker.reopen(thread_id, sam)
    tracker.tags(thread_id, sam, plus=["Urgent", "Urgent"], minus=["Done"])
    rows = stored(engine)
    assert [(row.verb, row.kind) for row in rows] == [
        ("deadline", "deadline"),
        ("todo", "checklist"),
        ("subtask", "subtask"),
        ("owner", "assignee"),
        ("owner", "assignee"),
        ("close", "task_closed"),
        ("reopen", "task_reopened"),
        ("tags", "tags"),
    ]
    assert {(row.channel, row.status, row.task_id) for row in rows} == {
        (TRACKER_CHANNEL, "pending", "4211")
    }
    params = [json.loads(row.params) for row in rows]
    assert params[0] == {"dateend": "12.12.2026"}
    assert params[1] == {"todo": ["Logo", "Fonts"]}
    # The test clock is Monday 23 November 2026 on a round-the-clock calendar.
    assert params[2] == {
        "title": "Wire frames",
        "email_user_to": "anna@agency.example",
        "dateend": "25.11.2026",
        "todo": ["Home"],
    }
    assert params[3] == {"email_user_to": "anna@agency.example"}
    assert params[4] == {"email_user_to": "NOONE"}
    assert params[7] == {"plus": ["Urgent"], "minus": ["Done"]}
    assert rows[7].text == "+Urgent -Done"


def test_an_action_opens_and_stops_no_clock_and_keeps_the_thread_in_step(
    tracker: Tracker, engine: Engine, thread_id: int, sam: int
) -> None:
    with engine.connect() as connection:
        before = connection.execute(select(CLOCK)).all()
    tracker.deadline(thread_id, sam, "12.12.2026")
    tracker.owner(thread_id, sam, "Anna")
    tracker.todo(thread_id, sam, ["x"])
    tracker.close(thread_id, sam)
    with engine.connect() as connection:
        assert connection.execute(select(CLOCK)).all() == before
        thread = connection.execute(select(THREAD).where(THREAD.c.id == thread_id)).one()
    assert before[0].outcome == "running"
    assert (thread.deadline, thread.closed) == ("2026-12-12", True)


def test_the_same_key_records_one_action(
    tracker: Tracker, engine: Engine, thread_id: int, sam: int
) -> None:
    first = tracker.close(thread_id, sam, key="chat:1")
    again = tracker.close(thread_id, sam, key="chat:1")
    assert (first.status, again.status) == ("created", "duplicate")
    assert len(stored(engine)) == 1


@pytest.mark.parametrize(
    ("act", "problem"),
    [
        (lambda t, th, s: t.close(99999, s), "no thread 99999"),
        (lambda t, th, s: t.close(th + 1, s), "has no Worksection task"),
        (lambda t, th, s: t.close("ws:777", s), "knows no thread of Worksection task 777"),
        (lambda t, th, s: t.close("task 12", s), "names no thread"),
        (lambda t, th, s: t.deadline(th, s, "01.01.2020"), "in the past"),
        (lambda t, th, s: t.deadline(th, s, "someday"), "not a date"),
        (lambda t, th, s: t.todo(th, s, ["", "  "]), "empty checklist"),
        (lambda t, th, s: t.subtask(th, s, "  "), "needs a title"),
        (lambda t, th, s: t.subtask(th, s, "x", owner="Zed"), "no staff member 'Zed'"),
        (lambda t, th, s: t.owner(th, s, "Noemail"), "no email address"),
        (lambda t, th, s: t.owner(th, s, "Gone"), "no longer on the team"),
        (lambda t, th, s: t.tags(th, s), "no tag to add or remove"),
        (lambda t, th, s: t.tags(th, s, ["A"], ["A"]), "both added and removed: A"),
        (lambda t, th, s: t.tags(th, s, ["A,B"]), "no comma"),
        (lambda t, th, s: t.close(th, 4242), "no staff member 4242"),
    ],
)
def test_bad_input_is_refused_alone_and_writes_nothing(
    tracker: Tracker,
    engine: Engine,
    thread_id: int,
    sam: int,
    clock: MovableClock,
    act: Any,
    problem: str,
) -> None:
    gone = add_staff(engine, "Gone", "specialist", ["gone@agency.example"], clock())
    remove_staff(engine, gone)
    tracker.close(thread_id, sam)  # a neighbour, recorded before
    before = counts(engine)
    with pytest.raises(TrackerRefused, match=problem):
        act(tracker, thread_id, sam)
    assert counts(engine) == before
    tracker.reopen(thread_id, sam)  # and the next one still goes
    assert counts(engine) == (before[0] + 1, before[1] + 1, before[2] + 1)


def test_a_checklist_longer_than_an_event_holds_is_refused_whole(
    tracker: Tracker, engine: Engine, thread_id: int, sam: int
) -> None:
    before = counts(engine)
    with pytest.raises(TrackerRefused, match="text"):
        tracker.todo(thread_id, sam, ["x" * 60_000, "y" * 60_000])
    assert counts(engine) == before
