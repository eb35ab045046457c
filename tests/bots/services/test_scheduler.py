"""The scheduler: clock alerts at their second, on a real SQLite database and real time.

APScheduler times its jobs with the wall clock, so these tests use clocks
whose instants fall a second or two ahead (a policy of 2.4 seconds, warned
1.2 seconds before) rather than moving time.
"""

from __future__ import annotations

import asyncio
import time as monotonic_time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, select

from bots.services import scheduler as scheduler_module
from bots.services.scheduler import add_daily, run_scheduler
from core.base.business_time import AlwaysOpen
from core.base.instants import utc_now
from core.config.settings import Settings
from core.conversations.clients import set_client_policy
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.sla.alerts import RunningClocks, WrittenClocks
from core.sla.policies import PolicyBook
from core.store.db import open_database
from core.store.models.outbox import Notification
from core.store.models.system import table
from core.store.models.threads import Clock
from tests.support import make_event

NOTIFICATION, CLOCK = table(Notification), table(Clock)
POLL = 0.1
# How late an alert may be written on a loaded, shared host.
TOLERANCE = timedelta(seconds=1)
ALERTS = ("clock_warning", "clock_breach", "clock_escalation")


def fast_settings(**options: Any) -> Settings:
    """Warning at 1.2 s, breach at 2.4 s, escalation at 3.6 s; "slow" waits ten minutes."""
    fast = {
        "calendar": "24/7",
        "first_response_minutes": 0.04,
        "next_response_minutes": 0.04,
        "warn_before_minutes": 0.02,
        "escalate_after_minutes": 0.06,
    }
    slow = {"calendar": "24/7", "first_response_minutes": 10, "escalate_after_minutes": 20}
    return Settings(policies={"default": fast, "fast": fast, "slow": slow}, **options)


@pytest.fixture
def settings() -> Settings:
    return fast_settings()


@pytest.fixture
def team(engine: Engine) -> dict[str, int]:
    now = utc_now()
    return {
        "ana": add_staff(engine, "Ana", "assistant", ["ana@agency.example"], now),
        "max": add_staff(engine, "Max", "manager", ["max@agency.example"], now),
    }


@pytest.fixture
def live(engine: Engine, settings: Settings) -> Ingestor:
    """Ingestion in real time, as the intake does."""
    return Ingestor(engine, PolicyBook(settings))


def message(id: str, at: datetime, task: str = "T1", **fields: Any) -> dict[str, Any]:
    return make_event(id, 0, task=task, occurred_at=at.isoformat(), **fields)


def reply(id: str, at: datetime, task: str = "T1") -> dict[str, Any]:
    return make_event(id, 0, role="staff", task=task, occurred_at=at.isoformat())


def alerts(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(
            select(NOTIFICATION).where(NOTIFICATION.c.kind.in_(ALERTS)).order_by(NOTIFICATION.c.id)
        )
        return [dict(row._mapping) for row in found]


def clock_of(engine: Engine, task_clock: int = 0) -> dict[str, Any]:
    with engine.connect() as connection:
        found = connection.execute(select(CLOCK).order_by(CLOCK.c.id)).all()
    return dict(found[task_clock]._mapping)


@dataclass
class Watch:
    """Looks at the outbox every 20 ms: when each alert was first seen, and what was seen when."""

    engine: Engine
    first_seen: dict[str, datetime] = field(default_factory=dict)
    looks: list[tuple[datetime, frozenset[str]]] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            seen = {row["dedupe_key"] for row in alerts(self.engine)}
            moment = utc_now()
            for key in seen:
                self.first_seen.setdefault(key, moment)
            self.looks.append((moment, frozenset(seen)))
            await asyncio.sleep(0.02)

    def seen_before(self, instant: datetime, prefix: str) -> bool:
        """Whether an alert whose key starts with `prefix` was there before `instant`."""
        return any(
            moment < instant and any(key.startswith(prefix) for key in keys)
            for moment, keys in self.looks
        )

    def looked_before(self, instant: datetime) -> bool:
        return any(moment < instant for moment, _ in self.looks)


@asynccontextmanager
async def scheduler(settings: Settings, engine: Engine, **options: Any) -> AsyncIterator[list[str]]:
    """The scheduler running in the background; yields its reported states."""
    stop = asyncio.Event()
    states: list[str] = []
    task = asyncio.create_task(
        run_scheduler(settings, engine, stop, on_state=states.append, poll=POLL, **options)
    )
    await until(lambda: "running" in states or task.done())
    if task.done():
        task.result()  # raises what stopped it
    try:
        yield states
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


@asynccontextmanager
async def watching(engine: Engine) -> AsyncIterator[Watch]:
    watch = Watch(engine)
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()


async def until(predicate: Callable[[], object], timeout: float = 6.0) -> None:
    deadline = monotonic_time.monotonic() + timeout
    while not predicate():
        if monotonic_time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def wait_past(instant: datetime, extra: float = 0.0) -> None:
    delay = (instant - utc_now()).total_seconds() + extra
    if delay > 0:
        await asyncio.sleep(delay)


def assert_on_time(row: dict[str, Any], instant: datetime, watch: Watch) -> None:
    assert instant <= row["created_at"] <= instant + TOLERANCE
    assert watch.first_seen[row["dedupe_key"]] <= instant + TOLERANCE


# -- alerts at their instant ----------------------------------------------------


async def test_a_client_message_warns_breaches_and_escalates_at_its_instants(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int]
) -> None:
    async with scheduler(settings, engine) as states, watching(engine) as watch:
        live.ingest([message("m1", utc_now())])
        clock = clock_of(engine)
        await until(lambda: len(watch.first_seen) == 3)
        await wait_past(clock["escalate_at"], 0.3)

    warning, breach, escalation = alerts(engine)
    assert (warning["kind"], warning["recipient_id"]) == ("clock_warning", team["ana"])
    assert (breach["kind"], breach["recipient_id"]) == ("clock_breach", team["ana"])
    assert (escalation["kind"], escalation["recipient_id"]) == ("clock_escalation", team["max"])
    assert_on_time(warning, clock["warn_at"], watch)
    assert_on_time(breach, clock["due_at"], watch)
    assert_on_time(escalation, clock["escalate_at"], watch)
    # Not before: the outbox was looked at before each instant and held nothing yet.
    assert watch.looked_before(clock["warn_at"])
    assert not watch.seen_before(clock["warn_at"], "warning")
    assert not watch.seen_before(clock["due_at"], "breach")
    assert not watch.seen_before(clock["escalate_at"], "escalation")
    assert states == ["starting", "running", "stopped"]


async def test_a_reply_before_the_warning_cancels_every_alert(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int]
) -> None:
    async with scheduler(settings, engine):
        start = utc_now()
        live.ingest([message("m1", start)])
        await asyncio.sleep(0.3)  # the scheduler holds its jobs by now
        live.ingest([reply("r1", utc_now())])
        await wait_past(start + timedelta(seconds=3.6), 0.5)

    assert clock_of(engine)["outcome"] == "met"
    assert alerts(engine) == []


async def test_a_reply_after_the_warning_cancels_breach_and_escalation(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int]
) -> None:
    async with scheduler(settings, engine):
        live.ingest([message("m1", utc_now())])
        await until(lambda: alerts(engine))
        live.ingest([reply("r1", utc_now())])
        await wait_past(clock_of(engine)["escalate_at"], 0.5)

    assert [row["kind"] for row in alerts(engine)] == ["clock_warning"]


async def test_instants_beyond_the_job_window_get_their_job_as_they_come_within_it(
    engine: Engine,
    settings: Settings,
    live: Ingestor,
    team: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A window of 1 s: the warning (1.2 s ahead), breach and escalation all
    # start beyond it, wait in the heap, and still fire at their instants.
    monkeypatch.setattr(scheduler_module, "JOB_WINDOW", timedelta(seconds=1))
    held: list[AsyncIOScheduler] = []
    async with scheduler(settings, engine, jobs=held.append), watching(engine) as watch:
        live.ingest([message("m1", utc_now())])
        clock = clock_of(engine)
        await until(lambda: len(watch.first_seen) == 3)
    assert_on_time(alerts(engine)[0], clock["warn_at"], watch)
    assert_on_time(alerts(engine)[1], clock["due_at"], watch)
    assert_on_time(alerts(engine)[2], clock["escalate_at"], watch)


async def test_instants_far_ahead_hold_no_job_and_a_reply_cancels_them(
    engine: Engine, team: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The slow policy's instants lie 10 and 20 minutes ahead: beyond a window of one.
    monkeypatch.setattr(scheduler_module, "JOB_WINDOW", timedelta(minutes=1))
    settings = fast_settings(clients={"Acme": {"policy": "slow"}})
    ingestor = Ingestor(engine, PolicyBook(settings))
    held: list[AsyncIOScheduler] = []
    async with scheduler(settings, engine, jobs=held.append):
        ingestor.ingest([message("m1", utc_now())])
        await asyncio.sleep(0.5)  # the scheduler has read the clock by now
        alert_jobs = [job for job in held[0].get_jobs() if job.id.startswith("alert:")]
        assert alert_jobs == []
        ingestor.ingest([reply("r1", utc_now())])
        await asyncio.sleep(0.5)

    assert clock_of(engine)["outcome"] == "met"
    assert alerts(engine) == []


async def test_a_shorter_target_brings_the_alerts_forward(
    engine: Engine, settings: Settings, team: dict[str, int]
) -> None:
    policies = PolicyBook(fast_settings(clients={"Acme": {"policy": "slow"}}))
    ingestor = Ingestor(engine, policies)
    async with scheduler(settings, engine), watching(engine) as watch:
        ingestor.ingest([message("m1", utc_now())])
        slow = clock_of(engine)
        await asyncio.sleep(0.3)
        set_client_policy(engine, policies, "Acme", "fast", "Ana")
        moved = clock_of(engine)
        await until(lambda: len(watch.first_seen) == 3)

    assert slow["due_at"] - slow["started_at"] == timedelta(minutes=10)
    assert moved["due_at"] - moved["started_at"] == timedelta(seconds=2.4)
    warning, breach, escalation = alerts(engine)
    assert_on_time(warning, moved["warn_at"], watch)
    assert_on_time(breach, moved["due_at"], watch)
    assert_on_time(escalation, moved["escalate_at"], watch)


async def test_a_longer_target_takes_the_alerts_away(
    engine: Engine, settings: Settings, team: dict[str, int]
) -> None:
    policies = PolicyBook(settings)
    ingestor = Ingestor(engine, policies)
    async with scheduler(settings, engine):
        start = utc_now()
        ingestor.ingest([message("m1", start)])
        await asyncio.sleep(0.3)
        set_client_policy(engine, policies, "Acme", "slow", "Ana")
        # The old instants pass with nothing written.
        await wait_past(start + timedelta(seconds=3.6), 0.5)

    assert clock_of(engine)["due_at"] - start == timedelta(minutes=10)
    assert alerts(engine) == []


# -- what the intake tells of its commits --------------------------------------------


@dataclass
class Reads:
    """Every reread of all the running clocks, and every clock read alone."""

    full: list[datetime] = field(default_factory=list)
    some: set[int] = field(default_factory=set)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    seen = Reads()
    read, read_some = RunningClocks.read, RunningClocks.read_some

    def counted(self: RunningClocks, connection: Any) -> Any:
        seen.full.append(utc_now())
        return read(self, connection)

    def counted_some(self: RunningClocks, connection: Any, clock_ids: Any) -> Any:
        seen.some |= set(clock_ids)
        return read_some(self, connection, clock_ids)

    monkeypatch.setattr(RunningClocks, "read", counted)
    monkeypatch.setattr(RunningClocks, "read_some", counted_some)
    return seen


def clock_ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(select(CLOCK.c.id).order_by(CLOCK.c.id)).scalars())


async def test_while_the_intake_alone_writes_only_the_clocks_it_wrote_are_read_again(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int], reads: Reads
) -> None:
    written = WrittenClocks()
    live.on_commit = written.note
    async with scheduler(settings, engine, written=written), watching(engine) as watch:
        await asyncio.to_thread(live.ingest, [message("m0", utc_now(), task="T0")])
        await asyncio.sleep(3 * POLL)  # the scheduler holds T0's jobs by now
        before = len(reads.full)
        # Over several looks: a reply to T0, a message on T1, then on other threads.
        await asyncio.to_thread(live.ingest, [reply("r0", utc_now(), task="T0")])
        await asyncio.to_thread(live.ingest, [message("m1", utc_now(), task="T1")])
        for index in range(2, 22):
            await asyncio.sleep(POLL / 3)
            await asyncio.to_thread(live.ingest, [message(f"m{index}", utc_now(), task="slow")])
        during = len(reads.full) - before
        t0, t1 = clock_ids(engine)[:2]
        await until(lambda: {row["clock_id"] for row in alerts(engine)} >= {t1})
        await wait_past(clock_of(engine, 1)["escalate_at"], 0.3)

    assert t0 in reads.some and t1 in reads.some
    # At most the look after a pause of the writes read every clock again.
    assert during <= 2
    t1_alerts = [row for row in alerts(engine) if row["clock_id"] == t1]
    assert [row["kind"] for row in t1_alerts] == list(ALERTS)
    assert_on_time(t1_alerts[1], clock_of(engine, 1)["due_at"], watch)
    # T0 was answered before its warning: nothing for it.
    assert all(row["clock_id"] != t0 for row in alerts(engine))


@pytest.mark.parametrize("then", ["the intake writes again", "nothing more"])
async def test_a_commit_of_someone_else_among_the_intake_s_is_still_seen(
    engine: Engine, settings: Settings, team: dict[str, int], reads: Reads, then: str
) -> None:
    policies = PolicyBook(fast_settings(clients={"Acme": {"policy": "slow"}}))
    intake = Ingestor(engine, policies)
    written = WrittenClocks()
    intake.on_commit = written.note
    async with scheduler(settings, engine, written=written), watching(engine) as watch:
        await asyncio.to_thread(intake.ingest, [message("m0", utc_now(), task="other")])
        await asyncio.sleep(3 * POLL)
        await asyncio.to_thread(intake.ingest, [message("m1", utc_now())])  # alone
        await asyncio.sleep(3 * POLL)
        # The dashboard, say, moves Acme's clocks: the intake did not write that.
        set_client_policy(engine, policies, "Acme", "fast", "Ana")
        if then == "the intake writes again":
            await asyncio.to_thread(intake.ingest, [message("m2", utc_now(), task="T2")])
        moved = clock_of(engine, 1)
        await until(lambda: any(row["clock_id"] == moved["id"] for row in alerts(engine)))
        await wait_past(moved["escalate_at"], 0.3)

    assert moved["due_at"] - moved["started_at"] == timedelta(seconds=2.4)
    found = [row for row in alerts(engine) if row["clock_id"] == moved["id"]]
    assert [row["kind"] for row in found] == list(ALERTS)
    assert_on_time(found[0], moved["warn_at"], watch)
    assert_on_time(found[1], moved["due_at"], watch)


# -- catch-up and restarts --------------------------------------------------------


async def test_a_breach_missed_while_stopped_fires_once_at_start(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int]
) -> None:
    # Written 3 s ago while nothing ran: warned at -1.8 s, due at -0.6 s,
    # escalating at +0.6 s.
    live.ingest([message("m1", utc_now() - timedelta(seconds=3))])
    clock = clock_of(engine)
    assert alerts(engine) == []

    started = utc_now()
    async with scheduler(settings, engine), watching(engine) as watch:
        await until(lambda: len(watch.first_seen) == 2)
        await wait_past(clock["escalate_at"], 0.3)

    breach, escalation = alerts(engine)
    # Only the most severe stage reached is told: no late warning.
    assert breach["kind"] == "clock_breach"
    assert started <= breach["created_at"] <= started + TOLERANCE
    assert escalation["kind"] == "clock_escalation"
    assert_on_time(escalation, clock["escalate_at"], watch)


async def test_clocks_older_than_the_horizon_stay_quiet_at_start(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int]
) -> None:
    # An import of two-day-old history, and one clock of a minute ago.
    live.ingest([message("old", utc_now() - timedelta(days=2), task="OLD")])
    live.ingest([message("new", utc_now() - timedelta(minutes=1), task="NEW")])

    async with scheduler(settings, engine):
        await until(lambda: len(alerts(engine)) == 2)
        await asyncio.sleep(0.3)

    new = clock_of(engine, 1)
    assert [(row["kind"], row["clock_id"]) for row in alerts(engine)] == [
        ("clock_breach", new["id"]),
        ("clock_escalation", new["id"]),
    ]


async def test_restarts_never_write_an_alert_twice(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int]
) -> None:
    live.ingest([message("m1", utc_now())])
    clock = clock_of(engine)
    # Stopped after the warning, started again after the breach, and again
    # after the escalation: each restart catches up on what it finds.
    async with scheduler(settings, engine):
        await until(lambda: len(alerts(engine)) == 1)
    await wait_past(clock["due_at"], 0.2)
    async with scheduler(settings, engine):
        await until(lambda: len(alerts(engine)) == 2)
        await wait_past(clock["escalate_at"], 0.3)
    async with scheduler(settings, engine):
        await asyncio.sleep(0.5)
    async with scheduler(settings, engine):
        await asyncio.sleep(0.5)

    found = alerts(engine)
    assert [row["kind"] for row in found] == list(ALERTS)
    assert len({row["dedupe_key"] for row in found}) == 3


async def test_two_schedulers_at_once_write_each_alert_once(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int]
) -> None:
    assert engine.url.database
    other = open_database(engine.url.database)
    try:
        async with scheduler(settings, engine), scheduler(settings, other):
            live.ingest([message(f"m{task}", utc_now(), task=str(task)) for task in range(10)])
            await until(lambda: len(alerts(engine)) == 30)
            await asyncio.sleep(0.3)
    finally:
        other.dispose()

    found = alerts(engine)
    assert len(found) == len({row["dedupe_key"] for row in found}) == 30


# -- changes made elsewhere ----------------------------------------------------------


async def test_clocks_opened_by_another_process_are_picked_up_within_the_poll(
    engine: Engine, settings: Settings, team: dict[str, int]
) -> None:
    assert engine.url.database
    other = open_database(engine.url.database)
    try:
        async with scheduler(settings, engine), watching(engine) as watch:
            # Written 1.5 s ago: its warning is due at once, its breach in 0.9 s.
            ingestor = Ingestor(other, PolicyBook(settings))
            await asyncio.to_thread(
                ingestor.ingest, [message("m1", utc_now() - timedelta(seconds=1.5))]
            )
            committed = utc_now()
            clock = clock_of(engine)
            await until(lambda: len(watch.first_seen) == 2)
    finally:
        other.dispose()

    warning, breach = alerts(engine)
    assert warning["kind"] == "clock_warning"
    assert warning["created_at"] - committed <= timedelta(seconds=POLL) + TOLERANCE
    assert_on_time(breach, clock["due_at"], watch)


async def test_a_database_failure_is_reported_and_nothing_is_lost(
    engine: Engine, settings: Settings, live: Ingestor, team: dict[str, int]
) -> None:
    assert engine.url.database
    other = open_database(engine.url.database)
    try:
        async with scheduler(settings, engine) as states:
            live.ingest([message("m1", utc_now())])
            # The running clocks cannot be read for a while.
            with other.begin() as connection:
                connection.exec_driver_sql("ALTER TABLE clock RENAME TO clock_away")
            await until(lambda: "failed" in states)
            await asyncio.sleep(0.3)
            with other.begin() as connection:
                connection.exec_driver_sql("ALTER TABLE clock_away RENAME TO clock")
            await until(lambda: states[-1] == "running")
            await until(lambda: len(alerts(engine)) >= 2)
            await wait_past(clock_of(engine)["escalate_at"], 0.3)
    finally:
        other.dispose()

    assert states[:3] == ["starting", "running", "failed"]
    assert states[-2:] == ["running", "stopped"]
    # Depending on how long the outage lasted the warning may have been
    # overtaken by the breach; the breach and the escalation are there.
    kinds = [row["kind"] for row in alerts(engine)]
    assert kinds[-2:] == ["clock_breach", "clock_escalation"]
    assert len(kinds) == len(set(kinds))


# -- daily jobs ------------------------------------------------------------------------


def test_business_days_follow_the_calendar(settings: Settings) -> None:
    office = Settings().calendar("office")  # Paris, Monday to Friday, French holidays
    paris = ZoneInfo("Europe/Paris")

    assert office.is_business_day(date(2026, 11, 23), paris)  # a Monday
    assert not office.is_business_day(date(2026, 11, 28), paris)  # a Saturday
    assert not office.is_business_day(date(2026, 12, 25), paris)  # Christmas, a Friday
    assert AlwaysOpen().is_business_day(date(2026, 11, 28), paris)


async def test_a_daily_job_is_timed_in_the_office_s_zone() -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start(paused=True)
    try:
        job = add_daily(
            scheduler,
            "08:30",
            Settings().calendar("office"),
            lambda: None,
            timezone="Europe/Paris",
            id="dunning",
        )
        first = job.trigger.get_next_fire_time(None, datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
        # 08:30 in Paris is 07:30 UTC in winter, 06:30 in summer.
        assert first == datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
        summer = job.trigger.get_next_fire_time(None, datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
        assert summer == datetime(2026, 7, 2, 6, 30, tzinfo=UTC)
        with pytest.raises(ValueError, match="not a time of day"):
            add_daily(scheduler, "8h30", AlwaysOpen(), lambda: None, timezone="UTC")
    finally:
        scheduler.shutdown(wait=False)


async def test_a_daily_job_runs_on_business_days_only(engine: Engine, settings: Settings) -> None:
    ran: list[str] = []
    soon = (utc_now() + timedelta(seconds=1.5)).time().replace(microsecond=0)

    async def coroutine_job() -> None:
        ran.append("coroutine")

    def add(scheduler: AsyncIOScheduler) -> None:
        add_daily(scheduler, soon, AlwaysOpen(), lambda: ran.append("plain"), timezone="UTC")
        add_daily(scheduler, soon, AlwaysOpen(), coroutine_job, timezone="UTC")
        # Today is a Saturday by the clock it is given: the office is closed,
        # whatever day the wall clock says.
        add_daily(
            scheduler,
            soon,
            Settings().calendar("office"),
            lambda: ran.append("closed"),
            timezone="Europe/Paris",
            clock=lambda: datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
        )

    async with scheduler(settings, engine, jobs=add):
        await until(lambda: len(ran) == 2, timeout=4)
        await asyncio.sleep(0.3)

    assert sorted(ran) == ["coroutine", "plain"]


def test_a_daily_time_is_hours_and_minutes() -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    job = add_daily(scheduler, time(9, 5), AlwaysOpen(), lambda: None, timezone="UTC")
    assert job.trigger.get_next_fire_time(
        None, datetime(2026, 11, 23, 9, 6, tzinfo=UTC)
    ) == datetime(2026, 11, 24, 9, 5, tzinfo=UTC)
