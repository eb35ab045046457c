"""The monthly sums against the rows they sum: the same report either way, kept by the sync."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from core.config.settings import TimeConfig
from core.conversations.people import add_staff, edit_staff
from core.store.reader import EngineReader, Reader
from core.time import sums
from core.time.report import AmReport, am_report
from core.time.sync import apply_window
from tests.core.time.test_report import ACME, ANNA, BRIOCHE, CONFIG, CRUMB, MONTH, PROJECTS, SAM
from tests.core.time.test_report import cost as make_cost
from tests.support import MovableClock

OCT1, DEC31 = date(2026, 10, 1), date(2026, 12, 31)


@contextmanager
def rows_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The report as it reads without sums: every month from the rows."""
    with monkeypatch.context() as patch:
        patch.setattr(sums, "current", lambda reader, rule: False)
        yield


def both(
    monkeypatch: pytest.MonkeyPatch, reader: Reader, config: TimeConfig, since: date, until: date
) -> tuple[AmReport, AmReport]:
    with rows_only(monkeypatch):
        from_rows = am_report(reader, config, since, until, PROJECTS)
    return from_rows, am_report(reader, config, since, until, PROJECTS)


def stored_sums(reader: Reader) -> tuple[list[Any], list[Any]]:
    return (
        sorted(
            reader.rows(
                "SELECT month, project_id, project_name, am_minutes, minutes FROM timesumproject"
            ),
            key=repr,
        ),
        sorted(
            reader.rows(
                "SELECT month, user_email, user_name, am_minutes, minutes FROM timesumperson"
            ),
            key=repr,
        ),
    )


def rebuilt(engine: Engine, clock: MovableClock) -> tuple[list[Any], list[Any]]:
    """What the sums would be, built afresh from the rows under their own rule (rolled back)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        reader = sums.ConnectionReader(connection)
        found = sums.stored(reader)
        assert found is not None
        sums.build(connection, found[0], clock())
        fresh = stored_sums(reader)
        transaction.rollback()
    return fresh


@pytest.fixture
def team(engine: Engine, clock: MovableClock) -> EngineReader:
    add_staff(engine, "Sam Staff", "assistant", [SAM], clock())
    add_staff(engine, "Anna Designer", "specialist", [ANNA], clock())
    apply_window(engine, MONTH, OCT1, DEC31, clock=clock)
    return EngineReader(engine)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (date(2026, 11, 1), date(2026, 11, 30)),  # a whole month
        (date(2026, 10, 1), date(2026, 12, 31)),  # whole months
        (date(2026, 11, 4), date(2026, 12, 10)),  # part of both ends
        (date(2026, 11, 30), date(2026, 11, 30)),  # one day
        (date(2026, 1, 1), date(2026, 11, 15)),  # whole months, then part of one
        (date(2025, 12, 1), date(2026, 11, 30)),  # a year
    ],
)
def test_the_sums_give_the_rows_report(
    team: EngineReader,
    engine: Engine,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
    since: date,
    until: date,
) -> None:
    assert not sums.current(team, CONFIG)
    assert sums.ensure(engine, CONFIG, clock())
    assert sums.current(team, CONFIG)
    from_rows, from_sums = both(monkeypatch, team, CONFIG, since, until)
    assert from_sums.as_dict() == from_rows.as_dict()
    assert from_sums.total.total > 0 or until < date(2026, 10, 1)


def test_the_sums_are_those_of_the_month(
    team: EngineReader, engine: Engine, clock: MovableClock
) -> None:
    sums.ensure(engine, CONFIG, clock())
    projects, people = stored_sums(team)
    november = [row for row in projects if row[0] == "2026-11"]
    assert november == sorted(
        [
            ("2026-11", None, None, 0, 40),
            ("2026-11", "77", "Acme website", 60, 600),
            ("2026-11", "88", "Brioche shop", 120, 510),
            ("2026-11", "99", "Crumb app", 20, 620),
        ],
        key=repr,
    )
    assert ("2026-11", SAM, "Sam", 90, 90) in people  # the assistant's time, all of it


def test_a_sync_keeps_the_sums_equal_to_the_rows(
    team: EngineReader, engine: Engine, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sums.ensure(engine, CONFIG, clock())
    clock.advance(hours=1)
    answer = [row for row in MONTH if row["id"] not in ("3", "9")]  # two deleted
    answer = [
        make_cost("1", "8:00", "2026-11-03", ANNA, "Homepage", ACME) if r["id"] == "1" else r
        for r in answer
    ]
    answer.append(
        make_cost("11", "3:00", "2026-10-20", SAM, "Call", BRIOCHE, ["AM"])
    )  # added in October
    summary = apply_window(engine, answer, OCT1, DEC31, clock=clock)
    assert (summary.added, summary.changed, summary.removed) == (1, 1, 2)
    assert stored_sums(team) == rebuilt(engine, clock)
    # A row edited into another month from outside the window: both months follow.
    apply_window(
        engine,
        [make_cost("6", "10:00", "2026-09-10", ANNA, "Backend", CRUMB)],
        date(2026, 9, 1),
        date(2026, 9, 30),
        clock=clock,
    )
    assert stored_sums(team) == rebuilt(engine, clock)
    # A row turned malformed is dropped, and its month's sums with it.
    apply_window(
        engine,
        [{**make_cost("2", "1:00", "2026-11-04", SAM, "Weekly call", ACME), "time": "1:75"}],
        date(2026, 11, 4),
        date(2026, 11, 4),
        clock=clock,
    )
    assert stored_sums(team) == rebuilt(engine, clock)
    assert sums.current(team, CONFIG)
    from_rows, from_sums = both(monkeypatch, team, CONFIG, date(2026, 9, 1), date(2026, 11, 30))
    assert from_sums.as_dict() == from_rows.as_dict()
    # Rows 1 (now 8:00), 4, 5, 6 (now in September), 7, 8 and 11; 2, 3 and 9 are gone.
    assert from_sums.total.total == 480 + 30 + 90 + 600 + 20 + 40 + 180


def test_a_changed_rule_reads_the_rows_until_the_sums_follow(
    team: EngineReader, engine: Engine, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sums.ensure(engine, CONFIG, clock())
    tags_only = TimeConfig(am_tags=["am"])
    assert not sums.current(team, tags_only)
    # The sums are not used: the figures are the new rule's.
    report = am_report(team, tags_only, date(2026, 11, 1), date(2026, 11, 30), PROJECTS)
    assert (report.total.am, report.total.total) == (60, 1770)
    assert sums.ensure(engine, tags_only, clock())
    assert sums.current(team, tags_only) and not sums.current(team, CONFIG)
    assert not sums.ensure(engine, TimeConfig(am_tags=["AM", "am"]), clock())  # the same rule
    from_rows, from_sums = both(monkeypatch, team, tags_only, date(2026, 11, 1), date(2026, 11, 30))
    assert from_sums.as_dict() == from_rows.as_dict() == report.as_dict()


def test_a_change_of_the_staff_holding_a_role_counts(
    team: EngineReader, engine: Engine, clock: MovableClock
) -> None:
    sums.ensure(engine, CONFIG, clock())
    add_staff(engine, "Free Lance", "assistant", ["free@else.example"], clock())
    assert not sums.current(team, CONFIG)
    report = am_report(team, CONFIG, date(2026, 11, 1), date(2026, 11, 30), PROJECTS)
    assert (report.total.am, report.total.total) == (200 + 40, 1770)
    # The next sync that changes a row sums every month again under the new staff.
    apply_window(
        engine,
        [*MONTH, make_cost("12", "0:10", "2026-11-20", ANNA, "Logo", BRIOCHE)],
        OCT1,
        DEC31,
        clock=clock,
    )
    assert sums.current(team, CONFIG)
    assert stored_sums(team) == rebuilt(engine, clock)
    edit_staff(engine, "Free Lance", role="specialist")
    assert not sums.current(team, CONFIG)
    report = am_report(team, CONFIG, date(2026, 11, 1), date(2026, 11, 30), PROJECTS)
    assert (report.total.am, report.total.total) == (200, 1770 + 10)


def test_sums_never_built_are_not_kept_by_the_sync(team: EngineReader, engine: Engine) -> None:
    apply_window(engine, MONTH[:3], OCT1, DEC31)
    assert stored_sums(team) == ([], [])
    assert sums.stored(team) is None


DAYS = st.dates(date(2026, 1, 1), date(2026, 12, 31))
ROW = st.tuples(
    st.integers(1, 60),  # id
    st.sampled_from(["0:00", "0:15", "1:00", "2:30", "7:45"]),
    DAYS,
    st.sampled_from([SAM, ANNA, "free@else.example", None]),
    st.sampled_from(["Homepage", "Monthly report", "Call"]),
    st.sampled_from([ACME, BRIOCHE, CRUMB, None]),
    st.sampled_from([(), ("AM",), ("communication", "SEO"), ("Design",)]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    answers=st.lists(st.lists(ROW, max_size=25), min_size=1, max_size=3),
    window=st.tuples(DAYS, DAYS),
    period=st.tuples(DAYS, DAYS),
)
def test_sums_kept_by_any_syncs_give_the_rows_report(
    team: EngineReader,
    engine: Engine,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
    answers: list[list[tuple[Any, ...]]],
    window: tuple[date, date],
    period: tuple[date, date],
) -> None:
    sums.ensure(engine, CONFIG, clock())
    for answer in answers:
        rows = []
        for row_id, time, day, user, task, project, tags in answer:
            row = make_cost(str(row_id), time, day.isoformat(), user or "", task, project, tags)
            if user is None:
                row["user_from"] = {}
            rows.append(row)
        apply_window(engine, rows, min(window), max(window), clock=clock)
        window = (min(window) - timedelta(days=40), max(window))
    assert stored_sums(team) == rebuilt(engine, clock)
    from_rows, from_sums = both(monkeypatch, team, CONFIG, min(period), max(period))
    assert from_sums.as_dict() == from_rows.as_dict()
