"""A window of logged time made equal to Worksection's answer: added, changed, removed, refused."""

from __future__ import annotations

import logging
import sqlite3
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlmodel import Session

from core.store.models.time import TimeRefusal, TimeRow
from core.time.sync import apply_window
from tests.support import MovableClock

NOV1, NOV30 = date(2026, 11, 1), date(2026, 11, 30)


def cost(row_id: str, time: str = "1:00", day: str = "2026-11-04", **fields: Any) -> dict:
    data: dict[str, Any] = {
        "id": row_id,
        "comment": "",
        "time": time,
        "money": "0.00",
        "date": day,
        "is_timer": 0,
        "user_from": {"id": "3", "email": "sam@agency.example", "name": "Sam"},
        "task": {"id": "1", "name": "Design", "project": {"id": "77", "name": "Acme"}},
    }
    data.update(fields)
    return data


def stored(engine: Engine) -> dict[str, tuple[date, int, str]]:
    with Session(engine) as session:
        return {
            row.id: (row.day, row.minutes, row.comment)
            for row in session.exec(select(TimeRow)).scalars()  # type: ignore[call-overload]
        }


def test_a_second_sync_follows_edits_and_deletions(engine: Engine, clock: MovableClock) -> None:
    first = apply_window(engine, [cost("1"), cost("2"), cost("3")], NOV1, NOV30, clock=clock)
    assert (first.added, first.changed, first.removed) == (3, 0, 0)
    answer = [cost("1", "2:15", comment="longer"), cost("3"), cost("4", day="2026-11-30")]
    second = apply_window(engine, answer, NOV1, NOV30, clock=clock)
    assert (second.added, second.changed, second.removed, second.unchanged) == (1, 1, 1, 1)
    assert stored(engine) == {
        "1": (date(2026, 11, 4), 135, "longer"),
        "3": (date(2026, 11, 4), 60, ""),
        "4": (date(2026, 11, 30), 60, ""),
    }
    again = apply_window(engine, answer, NOV1, NOV30, clock=clock)
    assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 0, 3)


def test_rows_outside_the_window_are_left_alone(engine: Engine, clock: MovableClock) -> None:
    apply_window(engine, [cost("old", day="2026-10-31"), cost("1")], date(2026, 10, 1), NOV30)
    summary = apply_window(engine, [], NOV1, NOV30, clock=clock)
    assert summary.removed == 1
    assert set(stored(engine)) == {"old"}


def test_a_row_moved_into_the_window_is_changed_not_added(
    engine: Engine, clock: MovableClock
) -> None:
    apply_window(engine, [cost("1", day="2026-10-30")], date(2026, 10, 1), date(2026, 10, 31))
    summary = apply_window(engine, [cost("1", day="2026-11-02")], NOV1, NOV30, clock=clock)
    assert (summary.added, summary.changed) == (0, 1)
    assert stored(engine)["1"][0] == date(2026, 11, 2)


def test_one_project_window_leaves_the_other_projects(engine: Engine, clock: MovableClock) -> None:
    other = {"id": "2", "name": "Logo", "project": {"id": "88", "name": "Brioche"}}
    apply_window(engine, [cost("1"), cost("2", task=other)], NOV1, NOV30)
    summary = apply_window(engine, [], NOV1, NOV30, project_id="77", clock=clock)
    assert summary.removed == 1
    assert set(stored(engine)) == {"2"}


def test_bad_rows_are_refused_alone_and_logged_once(
    engine: Engine, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    apply_window(engine, [cost("1"), cost("2")], NOV1, NOV30)
    answer = [cost("1", "1:75"), cost("2"), cost("3", "-1:00"), cost("4", "0:30")]
    with caplog.at_level(logging.WARNING, logger="pmdesk.time"):
        summary = apply_window(engine, answer, NOV1, NOV30, clock=clock)
        assert sorted(summary.refused) == [
            ("1", "time '1:75' is not H:MM"),
            ("3", "time '-1:00' is not H:MM"),
        ]
        assert set(stored(engine)) == {"2", "4"}
        again = apply_window(engine, answer, NOV1, NOV30, clock=clock)
    assert len(again.refused) == 2
    said = sorted(record.getMessage() for record in caplog.records)
    assert said == [
        "time row 1 refused: time '1:75' is not H:MM",
        "time row 3 refused: time '-1:00' is not H:MM",
    ]
    # Fixed in Worksection: the row comes back, its refusal is forgotten.
    fixed = apply_window(engine, [cost("1", "1:15"), cost("2"), cost("4", "0:30")], NOV1, NOV30)
    assert fixed.added == 1 and fixed.refused == []
    with Session(engine) as session:
        left = [row.id for row in session.exec(select(TimeRefusal)).scalars()]  # type: ignore[call-overload]
    assert left == ["3"]


def test_unknown_users_and_projects_are_kept(engine: Engine, clock: MovableClock) -> None:
    loose = cost("9", user_from={"id": "77", "email": "freelancer@else.example"}, task={"id": "5"})
    summary = apply_window(engine, [loose], NOV1, NOV30, clock=clock)
    assert summary.added == 1
    with Session(engine) as session:
        row = session.get(TimeRow, "9")
    assert (
        row is not None and row.project_id is None and row.user_email == "freelancer@else.example"
    )


def test_a_window_ending_before_it_starts_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="ends before"):
        apply_window(engine, [], NOV30, NOV1)


@pytest.mark.sqlite_only
def test_a_commit_of_another_writer_between_its_read_and_its_write_does_not_fail_it(
    engine: Engine, clock: MovableClock
) -> None:
    """The sync reads the window, then writes; another process (the intake) may
    commit in between. A deferred transaction then fails at its first write
    ("database is locked", whatever the busy timeout); the sync's holds the
    write lock from its start, so the other writer waits for it instead."""
    apply_window(engine, [cost("1")], NOV1, NOV30, clock=clock)
    path = engine.url.database
    assert path is not None
    interloper = sqlite3.connect(path, timeout=0, isolation_level=None)
    attempts: list[str] = []

    def other_writer_commits(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO timerow") and not attempts:
            try:
                interloper.execute("UPDATE timerow SET comment = 'edited' WHERE id = '1'")
                attempts.append("committed")
            except sqlite3.OperationalError as error:
                attempts.append(str(error))

    event.listen(engine, "before_cursor_execute", other_writer_commits)
    try:
        summary = apply_window(engine, [cost("1"), cost("2")], NOV1, NOV30, clock=clock)
    finally:
        event.remove(engine, "before_cursor_execute", other_writer_commits)
        interloper.close()
    assert summary.added == 1
    assert set(stored(engine)) == {"1", "2"}
    # The other writer found the lock held and was refused (it would wait in real use).
    assert attempts == ["database is locked"]
