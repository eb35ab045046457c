"""The clock alerts' agenda and firing, on a real database (SQLite, then PostgreSQL)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from core.conversations.clients import set_client_policy
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.notify.rules import notify_clocks
from core.sla.alerts import (
    Agenda,
    ChangeWatcher,
    ClockInstants,
    RunningClocks,
    WrittenClocks,
    fire,
)
from core.sla.policies import PolicyBook
from core.store.db import open_database
from core.store.models.outbox import Notification
from core.store.models.system import table
from core.store.models.threads import Clock
from tests.conftest import round_the_clock_settings
from tests.support import START, make_event

NOTIFICATION, CLOCK = table(Notification), table(Clock)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def instants(warn: float, due: float, escalate: float) -> ClockInstants:
    return ClockInstants(at(warn), at(due), at(escalate))


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(select(NOTIFICATION).order_by(NOTIFICATION.c.id))
        return [dict(row._mapping) for row in found]


def clock_ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(select(CLOCK.c.id).order_by(CLOCK.c.id)).scalars())


@pytest.fixture
def team(engine: Engine) -> dict[str, int]:
    return {
        "ana": add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START),
        "max": add_staff(engine, "Max", "manager", ["max@agency.example"], START),
    }


# -- the agenda ---------------------------------------------------------------


def test_a_new_clock_schedules_its_three_instants() -> None:
    agenda = Agenda()

    changes = agenda.update({1: instants(10, 15, 30)}, at(0))

    assert changes.added == {at(10), at(15), at(30)}
    assert changes.removed == set() and changes.due == set()
    assert agenda.instants() == [at(10), at(15), at(30)]


def test_coinciding_instants_share_one_entry() -> None:
    agenda = Agenda()
    agenda.update({1: instants(10, 15, 30)}, at(0))

    # Clock 2 warns when clock 1 falls due: that instant exists already.
    changes = agenda.update({1: instants(10, 15, 30), 2: instants(15, 20, 35)}, at(1))

    assert changes.added == {at(20), at(35)}
    assert agenda.clocks_at(at(15)) == {1, 2}
    assert agenda.take([at(15)]) == {1, 2}
    assert at(15) not in agenda.instants()


def test_an_unchanged_clock_is_left_alone() -> None:
    agenda = Agenda()
    agenda.update({1: instants(10, 15, 30)}, at(0))

    changes = agenda.update({1: instants(10, 15, 30)}, at(12))

    # Its warning has passed meanwhile, but it is the scheduler's job to
    # fire it (take), not the reread's: nothing is reported twice.
    assert (changes.added, changes.removed, changes.due) == (set(), set(), set())


def test_a_stopped_clock_leaves_the_agenda() -> None:
    agenda = Agenda()
    agenda.update({1: instants(10, 15, 30), 2: instants(15, 20, 35)}, at(0))

    changes = agenda.update({2: instants(15, 20, 35)}, at(1))

    # at(15) is still clock 2's warning: only clock 1's own instants go.
    assert changes.removed == {at(10), at(30)}
    assert agenda.clocks_at(at(15)) == {2}
    assert len(agenda) == 1


def test_a_moved_clock_moves_its_instants() -> None:
    agenda = Agenda()
    agenda.update({1: instants(10, 15, 30)}, at(0))

    changes = agenda.update({1: instants(7, 10, 30)}, at(1))

    assert changes.added == {at(7)}
    assert changes.removed == {at(15)}
    assert agenda.instants() == [at(7), at(10), at(30)]


def test_instants_already_passed_are_due_at_once() -> None:
    agenda = Agenda()

    changes = agenda.update({1: instants(10, 15, 30)}, at(20))

    assert changes.due == {1}
    assert changes.added == {at(30)}


def test_a_clock_moved_into_the_past_is_due_at_once() -> None:
    agenda = Agenda()
    agenda.update({1: instants(10, 15, 30)}, at(0))

    changes = agenda.update({1: instants(3, 6, 30)}, at(8))

    assert changes.due == {1}
    assert changes.removed == {at(10), at(15)}
    assert agenda.instants() == [at(30)]


def test_taking_an_instant_no_one_holds_gives_nothing() -> None:
    assert Agenda().take([at(5)]) == set()


# -- reading and firing ---------------------------------------------------------


def test_running_clocks_are_read_with_their_instants(ingestor: Ingestor, engine: Engine) -> None:
    ingestor.ingest(
        [
            make_event("m1", 0, task="A"),
            make_event("m2", 1, task="B", client="Bigco"),
            make_event("m3", 0, task="C"),
            make_event("r3", 2, role="staff", task="C"),
        ]
    )
    reader = RunningClocks()

    with engine.connect() as connection:
        found = reader.read(connection)
        again = reader.read(connection)

    first, second, _ = clock_ids(engine)
    assert (
        found
        == again
        == {
            first: instants(10, 15, 30),
            # Bigco is VIP: 10 minutes, warned 3 before; escalation stays at 30.
            second: instants(1 + 7, 1 + 10, 1 + 30),
        }
    )


def test_a_reread_hands_back_the_instants_of_an_unchanged_clock_as_they_were(
    ingestor: Ingestor, engine: Engine
) -> None:
    """The same object, which the agenda compares at once; a changed clock is read anew."""
    ingestor.ingest([make_event("m1", 0, task="A"), make_event("m2", 0, task="B")])
    reader = RunningClocks()
    with engine.connect() as connection:
        before = reader.read(connection)
    ingestor.ingest([make_event("r2", 1, role="staff", task="B"), make_event("m3", 2, task="C")])
    with engine.connect() as connection, connection.begin():
        after = reader.read(connection)  # inside a transaction of the caller's too

    first, second, third = clock_ids(engine)
    assert set(before) == {first, second}
    assert set(after) == {first, third}
    assert after[first] is before[first]
    assert after[third] == instants(2 + 10, 2 + 15, 2 + 30)


def test_fire_writes_only_the_clocks_it_is_given(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0, task="A"), make_event("m2", 0, task="B")])
    first, second = clock_ids(engine)

    assert fire(engine, [first], at(15)) == 1
    assert fire(engine, [], at(15)) == 0

    alerts = [row for row in rows(engine) if row["kind"] != "client_message"]
    assert [(row["kind"], row["clock_id"]) for row in alerts] == [("clock_breach", first)]
    assert alerts[0]["dedupe_key"] == f"breach:{first}:{team['ana']}"
    assert alerts[0]["created_at"] == at(15)
    # The sweep writes the other clock's breach, and nothing twice.
    assert notify_clocks(engine, at(15)) == 1
    assert fire(engine, [first, second], at(15)) == 0


def test_fire_follows_the_outbox_rules(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    ingestor.ingest([make_event("m1", 0), make_event("m2", 0, task="B")])
    ingestor.ingest([make_event("r2", 1, role="staff", task="B")])
    first, answered = clock_ids(engine)

    # Found past its due time and its escalation: breach and escalation, no
    # warning; an answered clock says nothing.
    assert fire(engine, [first, answered], at(31)) == 2
    kinds = [row["kind"] for row in rows(engine) if row["kind"] != "client_message"]
    assert kinds == ["clock_breach", "clock_escalation"]
    # Older than the horizon: history, not news.
    ingestor.ingest([make_event("m3", 0, task="C")])
    third = clock_ids(engine)[-1]
    assert fire(engine, [third], at(60 * 25)) == 0


def test_fire_takes_many_clocks_in_one_batch(
    ingestor: Ingestor, engine: Engine, team: dict[str, int]
) -> None:
    # More clocks than one IN (...) holds.
    ingestor.ingest([make_event(f"m{index}", 0, task=f"T{index}") for index in range(700)])

    assert fire(engine, clock_ids(engine), at(10)) == 700


def test_a_policy_change_shows_in_the_running_clocks(ingestor: Ingestor, engine: Engine) -> None:
    ingestor.ingest([make_event("m1", 0)])
    reader = RunningClocks()
    with engine.connect() as connection:
        before = reader.read(connection)

    policies = PolicyBook(round_the_clock_settings())
    set_client_policy(engine, policies, "Acme", "vip", "ana", clock=lambda: at(1))

    with engine.connect() as connection:
        after = reader.read(connection)
    assert list(before.values()) == [instants(10, 15, 30)]
    assert list(after.values()) == [instants(7, 10, 30)]


def test_amending_some_clocks_leaves_the_others_as_they_are() -> None:
    agenda = Agenda()
    agenda.update({1: instants(10, 15, 30), 2: instants(11, 16, 31)}, at(0))

    changes = agenda.amend({2: None, 3: instants(12, 17, 32), 4: None}, at(0))

    assert changes.removed == {at(11), at(16), at(31)}
    assert changes.added == {at(12), at(17), at(32)}
    assert len(agenda) == 2
    assert agenda.clocks_at(at(10)) == {1}
    assert agenda.clocks_at(at(12)) == {3}
    # As a reread of every running clock would have left it.
    again = agenda.update({1: instants(10, 15, 30), 3: instants(12, 17, 32)}, at(0))
    assert (again.added, again.removed, again.due) == (set(), set(), set())


def test_amending_a_moved_clock_reschedules_it_and_reports_a_passed_instant() -> None:
    agenda = Agenda()
    agenda.update({1: instants(10, 15, 30)}, at(0))

    changes = agenda.amend({1: instants(7, 10, 30)}, at(8))

    assert changes.due == {1}
    # 10 was its warning and is now its due time: still one job.
    assert (changes.removed, changes.added) == ({at(15)}, set())
    assert agenda.instants() == [at(10), at(30)]


def test_some_clocks_are_read_by_id_and_one_not_running_is_none(
    ingestor: Ingestor, engine: Engine
) -> None:
    ingestor.ingest([make_event("m1", 0, task="A"), make_event("m2", 0, task="B")])
    ingestor.ingest([make_event("r2", 1, role="staff", task="B")])
    first, answered = clock_ids(engine)
    reader = RunningClocks()

    with engine.connect() as connection:
        found = reader.read_some(connection, {first, answered, answered + 100})

    assert found == {first: instants(10, 15, 30), answered: None, answered + 100: None}


def test_the_ingestor_tells_which_clocks_each_commit_wrote_and_whether_it_wrote_alone(
    ingestor: Ingestor, engine: Engine
) -> None:
    written = WrittenClocks()
    ingestor.on_commit = written.note
    ingestor.ingest([make_event("m1", 0, task="A")])
    first = written.take()
    ingestor.ingest([make_event("m2", 1, task="B")])
    ingestor.ingest([make_event("r1", 2, role="staff", task="A")])
    alone = written.take()
    # Someone else commits (a policy change): the next commit says so.
    set_client_policy(engine, PolicyBook(round_the_clock_settings()), "Acme", "vip", "ana")
    ingestor.ingest([make_event("m3", 3, task="C")])
    after_other = written.take()

    one, two, three = clock_ids(engine)
    # The first commit cannot know who wrote before it.
    assert first == ({one}, 1, False)
    assert alone.clocks == {one, two} and alone.commits == 2
    assert after_other.clocks == {three}
    assert after_other.alone is False
    if engine.dialect.name == "sqlite":
        assert alone.alone is True
    else:
        # No token to tell another writer's commits by: never alone.
        assert alone.alone is False
    assert written.take() == (set(), 0, True)


# -- noticing changes -------------------------------------------------------------


def test_the_watcher_sees_commits_of_other_connections(
    engine: Engine, engine_url: str, ingestor: Ingestor
) -> None:
    watcher = ChangeWatcher(engine)
    other = open_database(engine_url)
    # PostgreSQL's notification comes a moment after the commit.
    wait = 1.0 if engine.dialect.name == "postgresql" else 0.0
    try:
        assert watcher.changed() is True  # the first look
        assert watcher.changed() is False

        Ingestor(other, PolicyBook(round_the_clock_settings())).ingest([make_event("m1", 0)])
        assert watcher.changed(wait) is True
        assert watcher.changed() is False

        # A read by anyone changes nothing; a commit in this process does.
        with other.connect() as connection:
            connection.execute(text("SELECT count(*) FROM clock")).scalar_one()
        assert watcher.changed(wait / 4) is False
        ingestor.ingest([make_event("m2", 1, task="T2")])
        # Asked without waiting, as the scheduler asks: seen once it has come.
        deadline = time.monotonic() + max(wait, 0.1)
        while not (seen := watcher.changed()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen is True
    finally:
        watcher.close()
        other.dispose()
