"""The scheduler: clock alerts at their exact second, and daily jobs on business days.

`run_scheduler` runs, until `stop` is set, an APScheduler `AsyncIOScheduler`
on the current event loop that holds one date-trigger job per future
instant of the running clocks (warning, due time, escalation; clocks whose
instants coincide share one job, see `core.sla.alerts.Agenda`) within
`JOB_WINDOW` of now; a later instant waits in a heap and gets its job once
it comes within the window (the loop looks at every turn, at least every
`poll` seconds), so that the many instants cancelled long before they come
(a clock stopped by a reply) never cost a job. When a job
comes, the outbox rows of its clocks are written through
`core.sla.alerts.fire`, in one transaction per batch: jobs that come together
(coinciding instants, or several due while a write was under way) are
written together.

What changes the instants is noticed whoever makes the change (`pmdesk
ingest` in another terminal, the HTTP intake or the dashboard in this
process): every `poll` seconds the scheduler asks SQLite's `PRAGMA
data_version`, which moves only when some other connection committed, and
only then reads the running clocks again (one indexed query, tens of
milliseconds for a few thousand running clocks) and adds or cancels jobs
for what differs. On PostgreSQL there is no such token and the running
clocks are read every `poll`.

A writer of this process may say what it wrote (`written`, a
`core.sla.alerts.WrittenClocks`: the HTTP intake's): while every commit since
the last look was its own, the scheduler reads only the clocks those commits
wrote, not every running clock: at 500 events a second the reread of 2,000
running clocks twice a second held the interpreter for several
milliseconds each time, beside the intake's event loop and writer. Someone
else's commit (the dashboard, `pmdesk ingest`, the alerts written here)
brings the full reread back at the next look, as does a look after the
writer's last commit (someone may have committed after it unseen).

At start every running clock is new to the scheduler, so the instants that
passed while nothing ran fire at once (the catch-up), within the outbox's
`ALERT_HORIZON`. Nothing fires twice, across restarts or alongside other
callers of `notify_clocks`: each alert has a unique dedupe key in the
database.

APScheduler settings: `misfire_grace_time=None`, so a job late by any
amount (a busy host, a suspended laptop) still runs rather than being
dropped, and `coalesce=True`. APScheduler times jobs with the wall clock;
the alerts themselves are written with the injected `now`.

Database work runs on one thread of the scheduler's own, never on the
event loop: the loop stays free for the bot and the intake, and the
change watcher's connection is always used from the same thread.

Daily jobs (the receivables' dunning run, for instance) are added with
`add_daily` through the `jobs` hook; see its docstring.

Run it among the services, with their stop signal and state report::

    run_scheduler(settings, engine, ended, clock=clock,
                  on_state=lambda state: states.set("scheduler", state))
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import logging
import time as monotonic_time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine

from bots.telegram.pacing import Backoff, wait_any
from core.base.business_time import BusinessCalendar
from core.base.instants import Now, utc_now
from core.config.settings import Settings
from core.notify.rules import ALERT_HORIZON
from core.sla.alerts import (
    Agenda,
    Changes,
    ChangeWatcher,
    ClockInstants,
    RunningClocks,
    WrittenClocks,
    fire,
)

log = logging.getLogger("pmdesk.scheduler")

STARTING, RUNNING, FAILED, STOPPED = "starting", "running", "failed", "stopped"
# Late jobs still run, however late (None: no limit), and a job missed
# several times runs once.
JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
# Jobs added between two turns of the event loop.
RESCHEDULE_SLICE = 200
# Only instants this close get an APScheduler job; later ones wait in a heap
# and get theirs as they come within it (the loop looks at least every
# `poll`). Adding a job costs 0.1 to 0.2 ms (APScheduler inspects the
# callable's signature each time), and a live intake opens clocks whose
# instants lie minutes to hours ahead and are mostly cancelled by a reply
# before then: one job per instant cost the intake about a tenth of its CPU.
# A minute, not ten: the default policy's warning comes ten minutes after
# the message, so a window of ten gave nearly every warning its job.
JOB_WINDOW = timedelta(minutes=1)
# A daily job may start this late (the host was busy, or asleep) and still run that day.
DAILY_GRACE = timedelta(hours=2)

T = TypeVar("T")


async def run_scheduler(
    settings: Settings,
    engine: Engine,
    stop: asyncio.Event,
    *,
    clock: Now = utc_now,
    on_state: Callable[[str], None] | None = None,
    poll: float = 0.5,
    horizon: timedelta = ALERT_HORIZON,
    jobs: Callable[[AsyncIOScheduler], object] | None = None,
    written: WrittenClocks | None = None,
) -> None:
    """Keep the clock alerts on time until `stop` is set; see the module.

    `on_state` hears "starting", then "running" once the running clocks are
    loaded and the catch-up written; "failed" while the database cannot be
    read or written (the scheduler retries, with backoff, and loses nothing:
    what was due is written once it can be), "running" again when it
    recovers, and "stopped" on the way out. `jobs` is called with the
    started scheduler to add other jobs (`add_daily`). `written`: what a
    writer of this process tells of its commits (see the module).
    """
    report = on_state or (lambda state: None)
    report(STARTING)
    # APScheduler logs every job it adds and runs at INFO: one line per alert.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
    alerts = _Alerts(engine, scheduler, clock, horizon, written)
    scheduler.start()
    try:
        if jobs is not None:
            jobs(scheduler)
        await alerts.run(stop, poll, report)
    finally:
        scheduler.shutdown(wait=False)
        await alerts.close()
        report(STOPPED)


class _Alerts:
    """The clock alerts' part of the scheduler: agenda, jobs, and the firing of batches."""

    def __init__(
        self,
        engine: Engine,
        scheduler: AsyncIOScheduler,
        clock: Now,
        horizon: timedelta,
        written: WrittenClocks | None = None,
    ) -> None:
        self.engine = engine
        self.scheduler = scheduler
        self.clock = clock
        self.horizon = horizon
        self.agenda = Agenda()
        self.watcher = ChangeWatcher(engine)
        self.clocks = RunningClocks()
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="pmdesk-scheduler")
        # Instants whose job has come, and clocks whose alerts are to be written.
        self.come: set[datetime] = set()
        self.due: set[int] = set()
        self.wake = asyncio.Event()
        self.running = False
        self.stale = False
        self.written = written
        # Every running clock read at least once; the last look read only
        # the clocks a writer named (someone may have committed after it).
        self.loaded = False
        self.partial = False
        # Instants of the agenda beyond JOB_WINDOW, without a job yet: a heap
        # of them, and the set of those still wanted (a cancelled one stays
        # in the heap until it reaches the top).
        self.later: list[datetime] = []
        self.wanted: set[datetime] = set()

    async def run(self, stop: asyncio.Event, poll: float, report: Callable[[str], None]) -> None:
        backoff = Backoff(first=max(poll, 0.1), cap=30.0)
        failures = 0
        next_look = 0.0
        while not stop.is_set():
            self.wake.clear()
            try:
                await self._fire()
                if monotonic_time.monotonic() >= next_look:
                    await self._look()
                    next_look = monotonic_time.monotonic() + poll
                    await self._fire()
                await self._schedule_near()
            except Exception:
                log.exception("clock alerts: the database failed; trying again")
                report(FAILED)
                await wait_any(stop, timeout=backoff.delay(failures))
                failures += 1
                continue
            if failures or not self.running:
                report(RUNNING)
                failures = 0
                self.running = True
            wait = max(0.0, next_look - monotonic_time.monotonic())
            await wait_any(stop, self.wake, timeout=wait)

    async def _look(self) -> None:
        """Read the running clocks again if anything was committed; reschedule what changed.

        Only the clocks the writer named, when every commit since the last
        look was its own (see the module).
        """
        changed = await self._in_thread(self.watcher.changed)
        # Taken after the watcher's look: a commit it saw and not noted yet
        # leaves nothing noted, or a commit not alone, and all is read.
        noted = self.written.take() if self.written is not None else None
        some = self.loaded and not self.stale and noted is not None and noted.commits > 0
        if not (changed or self.stale or self.partial or some):
            return
        # Until the reread succeeds: the watcher has moved on already.
        self.stale = True
        if some and noted is not None and noted.alone:
            found = await self._in_thread(self._read_some, noted.clocks)
            changes = self.agenda.amend(found, self.clock())
            self.partial = True
        else:
            running = await self._in_thread(self._read_running)
            changes = self.agenda.update(running, self.clock())
            self.loaded, self.partial = True, False
        await self._reschedule(changes)
        self.due |= changes.due
        self.stale = False

    async def _reschedule(self, changes: Changes) -> None:
        for at in changes.removed:
            if at in self.wanted:
                self.wanted.discard(at)
                continue
            with contextlib.suppress(JobLookupError):  # it has just run
                self.scheduler.remove_job(_job_id(at))
        horizon = self.clock() + JOB_WINDOW
        near = []
        for at in changes.added:
            if at <= horizon:
                near.append(at)
            elif at not in self.wanted:
                self.wanted.add(at)
                heapq.heappush(self.later, at)
        await self._add_jobs(near)

    async def _schedule_near(self) -> None:
        """Give a job to every waiting instant that has come within JOB_WINDOW."""
        horizon = self.clock() + JOB_WINDOW
        near = []
        while self.later and self.later[0] <= horizon:
            at = heapq.heappop(self.later)
            if at in self.wanted:
                self.wanted.discard(at)
                near.append(at)
        await self._add_jobs(near)

    async def _add_jobs(self, instants: list[datetime]) -> None:
        for count, at in enumerate(sorted(instants), start=1):
            if count % RESCHEDULE_SLICE == 0:
                # Adding a job costs about 0.1 ms: thousands at start would
                # hold the loop (and the bot, and the intake) for a while.
                await asyncio.sleep(0)
            self.scheduler.add_job(
                self._come,
                DateTrigger(run_date=at),
                args=[at],
                id=_job_id(at),
                replace_existing=True,
            )

    async def _come(self, at: datetime) -> None:
        """The job of instant `at`: hand it to the loop, which writes in batches."""
        self.come.add(at)
        self.wake.set()

    async def _fire(self) -> None:
        """Write the alerts of every instant come and every clock found due, as one batch."""
        if self.come:
            come, self.come = self.come, set()
            self.due |= self.agenda.take(come)
            # APScheduler's clock said the instant came: an injected clock a
            # hair behind must not make the alert look early.
            at = max(self.clock(), *come)
        elif self.due:
            at = self.clock()
        else:
            return
        if not self.due:
            return
        batch = set(self.due)
        written = await self._in_thread(fire, self.engine, batch, at, self.horizon)
        self.due -= batch
        if written:
            log.debug("clock alerts: %d written for %d clocks", written, len(batch))

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.thread, partial(function, *args))

    def _read_running(self) -> dict[int, ClockInstants]:
        with self.engine.connect() as connection:
            return self.clocks.read(connection)

    def _read_some(self, clock_ids: set[int]) -> dict[int, ClockInstants | None]:
        if not clock_ids:
            return {}
        with self.engine.connect() as connection:
            return self.clocks.read_some(connection, clock_ids)

    async def close(self) -> None:
        await self._in_thread(self.watcher.close)
        self.thread.shutdown(wait=False)


def _job_id(at: datetime) -> str:
    return f"alert:{at.isoformat()}"


# -- daily jobs -----------------------------------------------------------------


def add_daily(
    scheduler: AsyncIOScheduler,
    at: str | time,
    calendar: BusinessCalendar,
    job: Callable[[], object],
    *,
    timezone: str,
    id: str | None = None,
    clock: Now = utc_now,
) -> Job:
    """Run `job` every business day of `calendar` at `at` ("08:30", local time in `timezone`).

    Meant for the receivables' daily dunning run, from `run_scheduler`'s
    `jobs` hook, with the calendar and time zone of the agency's office::

        office = settings.calendars["office"]
        add_daily(scheduler, "08:30", settings.calendar("office"), dunning_run,
                  timezone=office.timezone, id="dunning")

    A business day is a local date on which the calendar is open at some
    time (weekends, public holidays and closed dates are skipped, even
    when the job's time falls outside the shifts). `job` may be a plain
    function (run on a worker thread, so it may block on the database) or
    a coroutine function (run on the loop). A run late by up to
    `DAILY_GRACE` still happens; missed runs do not pile up. The schedule
    lives in memory, so a run missed while no process ran is not made up:
    write `job` so that running it twice a day does no harm (the dunning
    rules send at most one reminder per invoice per day) and call it once
    at start as well if a late run matters. `clock`: what tells the time at
    run time, the services' own, so that the day is judged by the same clock
    as everything else.
    """
    zone = ZoneInfo(timezone)
    moment = at if isinstance(at, time) else _hour_minute(at)

    async def on_business_days() -> None:
        if not calendar.is_business_day(clock().astimezone(zone).date(), zone):
            return
        if inspect.iscoroutinefunction(job):
            await job()
            return
        result = await asyncio.to_thread(job)
        if inspect.isawaitable(result):
            await result

    return scheduler.add_job(
        on_business_days,
        CronTrigger(hour=moment.hour, minute=moment.minute, second=moment.second, timezone=zone),
        id=id,
        replace_existing=id is not None,
        misfire_grace_time=int(DAILY_GRACE.total_seconds()),
        coalesce=True,
    )


def _hour_minute(text: str) -> time:
    try:
        hour, minute = (int(part) for part in text.strip().split(":"))
        return time(hour, minute)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day like 08:30") from None
