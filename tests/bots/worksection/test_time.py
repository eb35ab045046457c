"""Time logged in Worksection copied into pmdesk, against the fake account over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bots.worksection.api import WorksectionError
from bots.worksection.time import recent_window, run_time_sync, sync_time, windows
from core.store.models.time import TimeRow
from tests.bots.worksection.accounts import fast_client, ws_settings
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock

SAM, ANNA = "sam@agency.example", "anna@agency.example"
NOV1, NOV30 = date(2026, 11, 1), date(2026, 11, 30)


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, users={SAM: "Sam Staff", ANNA: "Anna Designer"})
    with fake.running():
        fake.add_task("4211", "Weekly call", tags=["AM"])
        fake.add_task("4212", "Homepage", project=("88", "Brioche shop"))
        yield fake


def copy(engine: Engine) -> dict[str, tuple[str, int, str | None]]:
    with Session(engine) as session:
        return {
            row.id: (row.day.isoformat(), row.minutes, row.project_id)
            for row in session.exec(select(TimeRow)).scalars()  # type: ignore[call-overload]
        }


def served(account: FakeWorksection) -> dict[str, tuple[str, int, str | None]]:
    found = {}
    for row_id, row in account.costs.items():
        hours, minutes = row["time"].split(":")
        found[row_id] = (row["date"], int(hours) * 60 + int(minutes), row["task"]["project"]["id"])
    return found


def test_a_period_is_cut_into_windows_of_a_month_at_most() -> None:
    assert windows(date(2026, 1, 1), date(2026, 3, 5)) == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 3, 3)),
        (date(2026, 3, 4), date(2026, 3, 5)),
    ]
    assert windows(NOV1, NOV1) == [(NOV1, NOV1)]


async def test_two_syncs_with_edits_and_deletions_between_leave_an_equal_copy(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    account.add_cost("1", "4211", "0:45", "2026-11-03", user=SAM)
    account.add_cost("2", "4212", "3:00", "2026-11-04", user=ANNA)
    account.add_cost("3", "4212", "1:00", "2026-11-20", user=ANNA)
    client = fast_client(account)
    try:
        first = await sync_time(client, engine, NOV1, NOV30, clock=clock)
        assert (first.added, first.changed, first.removed) == (3, 0, 0)
        account.edit_cost("1", time="1:15")
        account.edit_cost("3", date="2026-11-21")
        account.delete_cost("2")
        account.add_cost("4", "4211", "0:10", "2026-11-30", user=SAM)
        second = await sync_time(client, engine, NOV1, NOV30, clock=clock)
    finally:
        await client.aclose()
    assert (second.added, second.changed, second.removed) == (1, 2, 1)
    assert copy(engine) == served(account)
    calls = [call for call in account.calls if call.action == "get_costs"]
    assert calls[-1].params["datestart"] == "01.11.2026"
    assert calls[-1].params["dateend"] == "30.11.2026"


async def test_a_window_past_the_answer_limit_is_asked_in_halves(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    account.max_records = 3
    for day in range(1, 9):
        account.add_cost(str(day), "4212", "1:00", f"2026-11-{day:02d}")
    client = fast_client(account)
    try:
        summary = await sync_time(client, engine, NOV1, date(2026, 11, 8), clock=clock)
    finally:
        await client.aclose()
    assert summary.added == 8
    assert copy(engine) == served(account)


async def test_a_day_past_the_answer_limit_is_an_error(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    account.max_records = 1
    account.add_cost("1", "4212", "1:00", "2026-11-02")
    account.add_cost("2", "4212", "1:00", "2026-11-02")
    client = fast_client(account)
    try:
        with pytest.raises(WorksectionError, match="Too many"):
            await sync_time(client, engine, NOV1, NOV30, clock=clock)
    finally:
        await client.aclose()


async def test_bad_rows_are_refused_and_the_others_kept(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    account.add_cost("1", "4211", "1:75", "2026-11-03")
    account.add_cost("2", "4211", "-1:00", "2026-11-03")
    account.add_cost("3", "4211", "0:30", "2026-11-03")
    stranger = {"id": "999", "name": "Elsewhere", "project": {"id": "5", "name": "Unknown"}}
    account.add_cost("4", "999", "2:00", "2026-11-05", user="x@else.example", task=stranger)
    client = fast_client(account)
    try:
        summary = await sync_time(client, engine, NOV1, NOV30, clock=clock)
    finally:
        await client.aclose()
    assert sorted(row_id for row_id, _ in summary.refused) == ["1", "2"]
    assert set(copy(engine)) == {"3", "4"}


async def test_the_services_keep_the_last_35_days_equal(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    clock.instant = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    settings = ws_settings(account)
    assert recent_window(settings, clock) == (date(2026, 10, 31), date(2026, 12, 4))
    account.add_cost("old", "4211", "1:00", "2026-10-30")
    account.add_cost("1", "4211", "1:00", "2026-10-31")
    account.add_cost("2", "4211", "1:00", "2026-12-04")
    stop = asyncio.Event()
    client = fast_client(account)
    try:
        task = asyncio.create_task(
            run_time_sync(settings, engine, stop, client, clock=clock, interval=0.05)
        )
        await _until(lambda: set(copy(engine)) == {"1", "2"})
        account.delete_cost("2")
        await _until(lambda: set(copy(engine)) == {"1"})
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        await client.aclose()
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(TimeRow)).one()[0] == 1  # type: ignore[call-overload]


async def test_a_failed_turn_is_tried_again(
    account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    clock.instant = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    account.add_cost("1", "4211", "1:00", "2026-12-01")
    account.fail("envelope", "envelope", "envelope")
    stop = asyncio.Event()
    client = fast_client(account, attempts=1)
    try:
        task = asyncio.create_task(
            run_time_sync(
                ws_settings(account),
                engine,
                stop,
                client,
                clock=clock,
                interval=60,
                retry_after=0.05,
            )
        )
        await _until(lambda: set(copy(engine)) == {"1"})
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        await client.aclose()


async def _until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    for _ in range(int(timeout / 0.02)):
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")
