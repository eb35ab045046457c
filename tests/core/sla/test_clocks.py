"""Response clocks as a pure reducer: `ThreadClocks` and `replay`, without a database.

Each kind of event is shown doing what the rules say and nothing more: a
client message opens a clock (once), a public staff reply stops it as met
or breached, "no reply needed" stops it as such, and internal notes, system
events and replies with no clock running change nothing.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

from core.base.business_time import AlwaysOpen, BusinessCalendar, ShiftCalendar
from core.base.kinds import AuthorRole, ClockKind, EventKind, Outcome
from core.sla.clocks import (
    ClockState,
    EventFacts,
    ThreadClocks,
    order_key,
    recompute_running,
    replay,
)
from core.sla.policies import Policy

MINUTE = 60.0
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
WEEKDAYS_9_TO_17 = ShiftCalendar("UTC", {day: [(time(9), time(17))] for day in range(5)})


def policy(calendar: BusinessCalendar | None = None, name: str = "default") -> Policy:
    return Policy(
        name=name,
        first_response=15 * MINUTE,
        next_response=60 * MINUTE,
        warn_before=5 * MINUTE,
        escalate_after=30 * MINUTE,
        calendar=calendar or AlwaysOpen(),
    )


def event(
    id: int,
    minutes: float,
    role: AuthorRole = AuthorRole.CLIENT,
    kind: EventKind = EventKind.MESSAGE,
    *,
    internal: bool = False,
    staff_id: int | None = None,
    at: datetime = START,
) -> EventFacts:
    occurred = at + timedelta(minutes=minutes)
    return EventFacts(
        id, order_key(occurred, "telegram", str(id)), kind.value, role.value, internal, staff_id
    )


def reply(id: int, minutes: float, *, internal: bool = False, at: datetime = START) -> EventFacts:
    """A message by staff member 7: public unless `internal`."""
    return event(id, minutes, AuthorRole.STAFF, internal=internal, staff_id=7, at=at)


def test_what_stops_a_running_clock_is_what_the_facts_call_stops() -> None:
    # Every kind, author and internal flag: a late event's replay skips all
    # but `stops` while its clocks run (ingestion's _STOPS_SQL), so nothing
    # else may change a running clock.
    for kind, role, internal in itertools.product(EventKind, AuthorRole, (False, True)):
        clocks = ThreadClocks(1, policy())
        clocks.apply(event(10, 0))
        running = clocks.running
        facts = event(11, 5, role, kind, internal=internal)

        clocks.apply(facts)

        assert (clocks.running is None) == facts.stops, (kind, role, internal)
        assert clocks.running is None or clocks.running is running


def test_a_client_message_opens_a_first_clock_with_the_policy_s_instants() -> None:
    clocks = ThreadClocks(1, policy())

    clocks.apply(event(10, 0))

    running = clocks.running
    assert running is not None
    assert (running.kind, running.policy, running.opened_by) == ("first", "default", 10)
    assert running.started_at == START
    assert running.warn_at == START + timedelta(minutes=10)
    assert running.due_at == START + timedelta(minutes=15)
    assert running.escalate_at == START + timedelta(minutes=30)
    assert running.outcome == Outcome.RUNNING
    assert clocks.touched == [running]


def test_further_client_messages_do_not_reset_the_running_clock() -> None:
    clocks = ThreadClocks(1, policy())
    clocks.apply(event(10, 0))
    clocks.apply(event(11, 5))

    assert clocks.running is not None
    assert (clocks.running.opened_by, clocks.running.started_at) == (10, START)
    assert len(clocks.touched) == 1


def test_a_public_reply_in_time_is_met_and_records_who_and_how_long() -> None:
    [clock] = replay(1, [event(10, 0), reply(20, 12)], policy())

    assert clock.outcome == Outcome.MET
    assert (clock.stopped_by, clock.stopped_by_staff) == (20, 7)
    assert clock.stopped_at == START + timedelta(minutes=12)
    assert clock.wall_seconds == clock.business_seconds == 12 * MINUTE


def test_a_reply_at_the_due_instant_is_met_and_one_after_is_breached() -> None:
    [on_time] = replay(1, [event(10, 0), reply(20, 15)], policy())
    [late] = replay(1, [event(10, 0), reply(20, 15.01)], policy())

    assert on_time.outcome == Outcome.MET
    assert late.outcome == Outcome.BREACHED


def test_internal_notes_system_events_and_stray_replies_change_nothing() -> None:
    clocks = ThreadClocks(1, policy())
    clocks.apply(reply(1, 0))  # a reply with no clock running
    clocks.apply(event(2, 1, internal=True))  # a client message marked internal
    clocks.apply(event(3, 2, AuthorRole.SYSTEM, EventKind.STATUS))
    assert (clocks.running, clocks.touched, clocks.has_clocks) == (None, [], False)

    clocks.apply(event(4, 3))
    clocks.apply(reply(5, 4, internal=True))  # a staff note is not an answer
    clocks.apply(event(6, 5, AuthorRole.STAFF, EventKind.STATUS))

    assert clocks.running is not None and clocks.running.opened_by == 4


def test_no_reply_needed_stops_the_clock_as_such_and_only_a_running_one() -> None:
    no_reply = EventKind.NO_REPLY_NEEDED
    clocks = ThreadClocks(1, policy())
    clocks.apply(event(1, 0, AuthorRole.STAFF, no_reply))
    assert clocks.touched == []

    clocks.apply(event(2, 1))
    clocks.apply(event(3, 40, AuthorRole.STAFF, no_reply, staff_id=7))

    [clock] = clocks.touched
    assert clock.outcome == Outcome.NO_REPLY_NEEDED
    assert (clock.stopped_by, clock.stopped_by_staff) == (3, 7)
    assert clocks.running is None


def test_after_the_first_clock_each_new_message_opens_a_next_clock_on_its_own_target() -> None:
    clocks = replay(1, [event(1, 0), reply(2, 5), event(3, 20), event(4, 25)], policy())

    assert [clock.kind for clock in clocks] == [ClockKind.FIRST, ClockKind.NEXT]
    second = clocks[1]
    assert second.outcome == Outcome.RUNNING
    assert second.due_at == START + timedelta(minutes=20 + 60)


def test_business_seconds_count_only_open_hours() -> None:
    # Friday 16:50 client message, answered Monday 09:10: 10 + 10 open minutes.
    friday = datetime(2026, 11, 27, 16, 50, tzinfo=UTC)
    monday = datetime(2026, 11, 30, 9, 10, tzinfo=UTC)
    ask = event(1, 0, at=friday)
    answer = reply(2, (monday - friday).total_seconds() / MINUTE, at=friday)

    [clock] = replay(1, [ask, answer], policy(WEEKDAYS_9_TO_17))

    assert clock.due_at == datetime(2026, 11, 30, 9, 5, tzinfo=UTC)
    assert clock.business_seconds == 20 * MINUTE
    assert clock.wall_seconds == (monday - friday).total_seconds()
    assert clock.outcome == Outcome.BREACHED


def test_replay_gives_the_same_clocks_whatever_order_the_events_arrive_in() -> None:
    events = [event(1, 0), event(2, 3), reply(3, 14), event(4, 20), reply(5, 90)]
    expected = replay(1, events, policy())

    for arrival in itertools.permutations(events):
        assert replay(1, arrival, policy()) == expected
    assert [clock.outcome for clock in expected] == [Outcome.MET, Outcome.BREACHED]


def test_events_at_the_same_instant_are_ordered_by_their_ids_as_numbers() -> None:
    assert order_key(START, "ws", "99") < order_key(START, "ws", "100")
    # The client's message with the smaller id comes first, so the reply answers it.
    [clock] = replay(1, [reply(100, 0), event(99, 0)], policy())
    assert (clock.opened_by, clock.outcome) == (99, Outcome.MET)


def test_a_running_clock_under_a_new_policy_keeps_its_start() -> None:
    [clock] = replay(1, [event(1, 0)], policy())
    stricter = Policy("vip", 5 * MINUTE, 10 * MINUTE, 1 * MINUTE, 10 * MINUTE, AlwaysOpen())

    moved = recompute_running(clock, stricter)

    assert (moved.policy, moved.started_at, moved.opened_by) == ("vip", START, 1)
    assert moved.due_at == START + timedelta(minutes=5)
    assert moved.warn_at == START + timedelta(minutes=4)
    assert clock.policy == "default"  # the original is left as it was


def test_a_clock_goes_to_a_row_and_back_unchanged() -> None:
    [clock] = replay(1, [event(1, 0), reply(2, 3)], policy())

    row = clock.row()
    assert "id" not in row  # not stored yet: the database gives it one
    assert ClockState.from_row({**row, "id": 42}) == ClockState(**{**row, "id": 42})
    assert clock.row(["outcome", "stopped_by"]) == {"outcome": "met", "stopped_by": 2}
