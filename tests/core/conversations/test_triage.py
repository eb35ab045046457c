"""The assistant's actions: triage states, no reply needed, a client's policy."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, text

from core.conversations.actions import UnknownStaff, no_reply_needed
from core.conversations.clients import UnknownClient, set_client_policy
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.conversations.triage import set_triage
from core.sla.policies import PolicyBook
from core.sla.views import breached_clocks, running_clocks
from core.store.models.system import table
from core.store.models.threads import Clock, Event, EventRaw, Thread
from core.store.reader import Reader, instant
from tests.support import START, MovableClock, make_event


def one(engine: Engine, query: str) -> object:
    with engine.connect() as connection:
        return connection.execute(text(query)).scalar_one()


def test_events_are_marked_seen_then_handled_by_whom_and_when(
    engine: Engine, ingestor: Ingestor, clock: MovableClock
) -> None:
    [created] = ingestor.ingest([make_event("m1", 0)])
    assistant = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    assert one(engine, "SELECT triage FROM event") == "new"

    clock.advance(minutes=3)
    assert set_triage(engine, [created.event_id or 0], "seen", assistant, clock=clock) == 1
    clock.advance(minutes=2)
    set_triage(engine, [created.event_id or 0], "handled", assistant, clock=clock)
    clock.advance(minutes=1)
    set_triage(engine, [created.event_id or 0], "seen", assistant, clock=clock)

    with engine.connect() as connection:
        row = connection.execute(
            select(table(Event).c.triage, Event.triage_by, Event.triage_at)
        ).one()
    assert row == ("handled", assistant, START + timedelta(minutes=5))


def test_triage_by_an_unknown_person_is_refused(engine: Engine, ingestor: Ingestor) -> None:
    ingestor.ingest([make_event("m1", 0)])

    with pytest.raises(UnknownStaff):
        set_triage(engine, [1], "seen", 999)
    assert one(engine, "SELECT triage FROM event") == "new"


def test_no_reply_needed_closes_the_clock_and_is_kept_as_an_event(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, reader: Reader
) -> None:
    ingestor.ingest([make_event("m1", 0, text="Merci !")])
    assistant = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    thread_id = int(str(one(engine, "SELECT id FROM thread")))
    clock.advance(minutes=4)

    result = no_reply_needed(ingestor, thread_id, assistant, reason="a thank-you", clock=clock)

    assert result.status == "created"
    assert running_clocks(reader) == []
    outcome, stopped = (
        one(engine, "SELECT outcome FROM clock"),
        one(engine, "SELECT stopped_at FROM clock"),
    )
    assert outcome == "no_reply_needed"
    assert instant(stopped) == START + timedelta(minutes=4)
    with engine.connect() as connection:
        decision = connection.execute(
            select(table(Event).c.author_name, Event.text, table(EventRaw).c.raw)
            .join(table(EventRaw), table(EventRaw).c.event_id == table(Event).c.id)
            .where(Event.source == "pmdesk")
        ).one()
    assert decision[:2] == ("Ana", "a thank-you")
    assert json.loads(decision[2])["kind"] == "no_reply_needed"


def test_no_reply_needed_by_a_stranger_is_refused(engine: Engine, ingestor: Ingestor) -> None:
    ingestor.ingest([make_event("m1", 0)])

    with pytest.raises(UnknownStaff):
        no_reply_needed(ingestor, 1, 999)
    assert one(engine, "SELECT outcome FROM clock") == "running"


def test_a_new_policy_moves_running_clocks_only_and_is_audited(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest(
        [
            make_event("m1", 0, task="A"),
            make_event("r1", 20, role="staff", task="A"),  # breached under 15 min
            make_event("m2", 30, task="B"),
        ]
    )
    policies = ingestor.policies

    moved = set_client_policy(engine, policies, "Acme", "vip", actor="ana", clock=lambda: START)

    assert moved == 1
    [running] = running_clocks(reader)
    assert running.policy == "vip"
    assert running.due_at == START + timedelta(minutes=40)  # 30 + the VIP's 10
    assert running.warn_at == START + timedelta(minutes=37)
    with engine.connect() as connection:
        stopped = connection.execute(
            select(table(Clock).c.policy, Clock.outcome).where(Clock.outcome != "running")
        ).one()
        audit = connection.execute(text("SELECT actor, action, detail FROM audit")).one()
    assert tuple(stopped) == ("default", "breached")
    assert audit[:2] == ("ana", "set_policy")
    assert json.loads(audit[2]) == {"from": None, "to": "vip", "recomputed": 1}


def test_a_policy_for_an_unknown_client_or_an_unknown_policy_is_refused(
    engine: Engine, ingestor: Ingestor, settings: object
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    policies: PolicyBook = ingestor.policies

    with pytest.raises(UnknownClient):
        set_client_policy(engine, policies, "Nobody", "vip", actor="ana")
    with pytest.raises(ValueError, match="unknown policy 'gold'"):
        set_client_policy(engine, policies, "Acme", "gold", actor="ana")
    assert one(engine, "SELECT policy FROM client") is None


def test_breached_clocks_are_late_answers_and_late_running_clocks(
    ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest(
        [
            make_event("m1", 0, task="A"),
            make_event("r1", 5, role="staff", task="A"),  # met
            make_event("m2", 0, task="B"),
            make_event("r2", 25, role="staff", task="B"),  # breached
            make_event("m3", 10, task="C"),  # running, due at 25
            make_event("m4", 50, task="D"),  # running, due at 65
        ]
    )

    late = breached_clocks(reader, now=START + timedelta(minutes=30))

    assert sorted(view.thread for view in late) == ["Task B", "Task C"]
    assert {view.thread: view.state(START + timedelta(minutes=30)) for view in late} == {
        "Task B": "breached",
        "Task C": "breached",
    }
    assert [
        view.thread for view in breached_clocks(reader, START, since=START + timedelta(minutes=5))
    ] == []


def test_a_thread_is_known_to_pmdesk_by_its_own_id(engine: Engine, ingestor: Ingestor) -> None:
    ingestor.ingest([make_event("m1", 0)])

    with engine.connect() as connection:
        refs = connection.execute(
            text("SELECT source, external_id FROM threadref ORDER BY source")
        ).all()
        thread_id = connection.execute(select(table(Thread).c.id)).scalar_one()
    assert [tuple(ref) for ref in refs] == [("pmdesk", str(thread_id)), ("webhook", "T1")]
