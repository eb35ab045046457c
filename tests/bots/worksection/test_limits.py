"""The connector within the limits Worksection's documentation states.

The fake account enforces each one (tests/fakes/worksection.py): get_events'
three ranges of periods, 8 KB request lines, 10,000 records per answer,
OAuth2 tokens that expire after 24 hours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bots.worksection.api import event_period
from bots.worksection.poller import WorksectionConnector
from bots.worksection.store import EVENTS_POLL, last_success
from core.config.settings import Settings
from core.store.models.system import table
from core.store.models.threads import Event
from tests.bots.worksection.test_connector import fast_client, ws_settings
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock

TASK = "4211"
EVENT = table(Event)


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, min_interval=0.005)
    with fake.running():
        fake.add_task(TASK, "Homepage redesign", tags=["In progress"])
        yield fake


@pytest.fixture
def settings(account: FakeWorksection) -> Settings:
    return ws_settings(account)


@pytest.fixture
async def connector(
    settings: Settings, engine: Engine, clock: MovableClock, account: FakeWorksection
) -> AsyncIterator[WorksectionConnector]:
    client = fast_client(account)
    yield WorksectionConnector(settings, engine, clock=clock, client=client)
    await client.aclose()


def messages(engine: Engine) -> list[Any]:
    query = select(EVENT).where(EVENT.c.kind == "message").order_by(EVENT.c.id)
    with engine.connect() as connection:
        return list(connection.execute(query))


def periods(account: FakeWorksection) -> list[str]:
    return [call.params["period"] for call in account.calls if call.action == "get_events"]


# -- get_events' periods ------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "period"),
    [
        (0, "1m"),
        (1, "1m"),
        (360, "360m"),
        (361, "7h"),
        (420, "7h"),
        (421, "8h"),
        (1439, "24h"),
        (72 * 60, "72h"),
        (72 * 60 + 1, "4d"),
        (73 * 60, "4d"),
        (30 * 1440, "30d"),
        (30 * 1440 + 1, "30d"),
        (90 * 1440, "30d"),
    ],
)
def test_the_period_is_the_smallest_unit_that_covers_the_window(minutes: int, period: str) -> None:
    assert event_period(minutes) == period


@pytest.mark.parametrize("period", ["360m", "1h", "72h", "1d", "30d"])
async def test_the_fake_takes_each_documented_range(account: FakeWorksection, period: str) -> None:
    client = fast_client(account)
    await client.call("get_events", {"period": period})
    await client.aclose()


@pytest.mark.parametrize("period", ["361m", "1439m", "73h", "31d", "0m", "1.5h", "2w"])
async def test_the_fake_refuses_a_period_out_of_the_documented_ranges(
    account: FakeWorksection, period: str
) -> None:
    from bots.worksection.api import WorksectionError

    client = fast_client(account)
    with pytest.raises(WorksectionError) as refused:
        await client.call("get_events", {"period": period})
    assert "Invalid period" in refused.value.message
    await client.aclose()


@pytest.mark.parametrize(
    ("hours_off", "period"),
    [(8, "9h"), (23, "24h"), (62, "63h"), (70, "71h"), (100, "5d")],
)
async def test_a_connector_left_off_catches_up_on_its_own(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    hours_off: int,
    period: str,
) -> None:
    await connector.poll_events()
    clock.advance(minutes=2)
    account.client_comment(TASK, "Friday evening: can you look at it?")
    clock.advance(hours=hours_off, minutes=-2)
    account.client_comment(TASK, "Monday morning: any news?")
    await connector.poll_events()

    assert [e.text for e in messages(engine)] == [
        "Friday evening: can you look at it?",
        "Monday morning: any news?",
    ]
    assert periods(account)[-1] == period
    assert last_success(engine, EVENTS_POLL) == clock()
    assert (await connector.state()).last_error is None


async def test_off_for_more_than_30_days_reads_30_days_and_reports_the_rest(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
) -> None:
    await connector.poll_events()
    before = clock()
    clock.advance(days=2)
    account.client_comment(TASK, "Out of reach")
    clock.advance(days=33)
    account.client_comment(TASK, "Within reach")
    await connector.poll_events()

    assert periods(account)[-1] == "30d"
    assert [e.text for e in messages(engine)] == ["Within reach"]
    assert connector.gap is not None
    assert connector.gap[0] == before
    assert (clock() - connector.gap[1]).days == 30
    error = (await connector.state()).last_error
    assert error is not None and "30 days" in error and "not read" in error
    assert last_success(engine, EVENTS_POLL) == clock()  # it goes on from here
