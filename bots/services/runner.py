"""The background services of one database, run by whichever process holds its lease.

`run_services` waits for the `services` lease (core.store.lease), then runs, until
`stop` is set:

- the Telegram bot and its outbox drain (bots.telegram.bot), when a token is
  configured; without one, the other services run and the outbox waits;
- the HTTP intake (bots.http.intake, served by uvicorn on `settings.http`), with
  the routes of other webhooks and, in webhook mode, the bot's own route;
- the scheduler (bots.services.scheduler): clock alerts at their second, and the
  reminders' daily run;
- the Worksection connector (bots.worksection.poller, and its webhook among the HTTP
  routes), when `worksection` is configured, and the hourly copy of the time
  logged there (bots.worksection.time) and, with `[time] log_own_time`, pmdesk's
  own measure logged back to it (bots.worksection.owncosts), sharing one client so
  that together they keep to Worksection's one request a second;
- services of the caller's own, by name (the demo's simulated clients,
  who take the replies in place of Telegram and Worksection).

The demo runs without the HTTP intake (`intake=False`): its database is a
throwaway, and the port belongs to the real services.

Only the holder of the lease listens on the HTTP port: a process waiting
for the lease binds nothing, so two of them never fight over it.

It renews the lease every third of its time to live (`lease_seconds`, 30 s
by default), reporting each service's state ("running", "starting",
"stopped", "failed"), so that the dashboard can show what runs and where.

A lease lost anyway (the database was unreachable for longer than that, or
the process was paused, SIGSTOP or a suspended machine, and another
process took over) ends their run at once: the services stop, the HTTP
port is closed, and every send checks the lease first (fencing, see
core.store.lease and bots.telegram.sender), so nothing the paused process had in hand
goes out after the takeover. The process then waits to take the lease
again, under a new fencing token. The lease is given back on the way out.

A process restarted after a crash on the same host takes its dead
predecessor's lease at once (core.store.lease.is_dead) instead of waiting for it
to lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import APIRouter
from sqlalchemy import Engine

from bots.http.connections import guarded_protocol
from bots.http.intake import Health, Lag, create_app
from bots.services.backups import add_backup_job
from bots.services.lograte import limit_repeats
from bots.services.scheduler import add_daily, run_scheduler
from bots.telegram.pacing import Backoff, wait_any
from bots.worksection.api import WorksectionClient
from bots.worksection.owncosts import run_own_costs
from bots.worksection.poller import run_worksection
from bots.worksection.store import poll_lag
from bots.worksection.time import run_time_sync
from bots.worksection.webhook import worksection_router
from core.base.instants import Now, utc_now
from core.config.settings import Settings
from core.receivables.dunning import daily_dunning
from core.sla.alerts import WrittenClocks
from core.store.db import open_database
from core.store.lease import NAMES, acquire, default_holder, release, renamed, renew

if TYPE_CHECKING:
    from bots.telegram.bot import TelegramService

log = logging.getLogger("pmdesk.services")

RUNNING, STARTING, STOPPED, FAILED = "running", "starting", "stopped", "failed"

SCHEDULER_FAILED = "the database cannot be read or written; trying again"

# A service of the caller's own: runs on the services' database until the
# event is set; its state is reported under its name, like the others'.
Extra = Callable[[Engine, asyncio.Event], Awaitable[None]]


class _States:
    """Each service's state, why the failed ones failed, and a signal when either
    changes (to report it at once)."""

    def __init__(self) -> None:
        self.values = dict.fromkeys(NAMES, STOPPED)
        # Reported with the lease, so that a dashboard in another process can say why.
        self.failures: dict[str, str] = {}
        # The services configured to run: /healthz is unwell while one is not running.
        self.expected: set[str] = set()
        self.changed = asyncio.Event()

    def set(self, name: str, state: str, reason: str = "") -> None:
        """`reason`: why, for a failure (said in one line); other states forget it."""
        why = reason if state == FAILED else None
        if self.values.get(name) != state or self.failures.get(name) != why:
            self.values[name] = state
            if why is None:
                self.failures.pop(name, None)
            else:
                self.failures[name] = why
            self.changed.set()


async def run_services(
    settings: Settings,
    stop: asyncio.Event,
    clock: Now = utc_now,
    *,
    engine: Engine | None = None,
    holder: str | None = None,
    ttl: timedelta | None = None,
    telegram: dict[str, Any] | None = None,
    routers: Sequence[APIRouter] = (),
    poller_lag: Callable[[], Lag] | None = None,
    intake: bool = True,
    extra: Mapping[str, Extra] | None = None,
) -> None:
    """Run the services while holding the lease, until `stop` is set; see the module.

    `telegram`: keyword arguments for `TelegramService` (tests pass faster pacing).
    `routers`: more routes for the HTTP intake (the Worksection webhook);
    `poller_lag`: how far behind the Worksection poller is, for /healthz.
    `ttl`: the lease's time to live (default: `settings.lease_seconds`).
    `intake`: False runs everything but the HTTP intake (nothing listens).
    `extra`: services of the caller's own, by name.
    """
    if engine is None:
        engine = await asyncio.to_thread(open_database, settings.db)
    holder = holder or default_holder()
    ttl = ttl or timedelta(seconds=settings.lease_seconds)
    taken_before = False
    limit_repeats()
    if not settings.telegram_token:
        log.info("no Telegram token (PMDESK_TELEGRAM_TOKEN): running without the bot")
    while not stop.is_set():
        if taken_before:
            # A lease lost: the next hold gets a token of its own (fencing).
            holder = renamed(holder)
        taken_before = True
        states = _States()
        if not await _wait_for_lease(engine, holder, states, stop, clock, ttl):
            return
        log.info("services started (lease holder %s)", holder)
        try:
            await _session(
                settings,
                engine,
                holder,
                states,
                stop,
                clock,
                ttl,
                telegram or {},
                _Web(routers, poller_lag, intake),
                extra or {},
            )
        finally:
            await asyncio.to_thread(release, engine, holder)
            log.info("services stopped")


async def _wait_for_lease(
    engine: Engine,
    holder: str,
    states: _States,
    stop: asyncio.Event,
    clock: Now,
    ttl: timedelta,
) -> bool:
    """Take the lease, waiting while another process holds it; False if stopped first."""
    told = False
    while not stop.is_set():
        failures = dict(states.failures)
        if await asyncio.to_thread(
            acquire, engine, holder, states.values, clock(), ttl, failures=failures
        ):
            return True
        if not told:
            log.info("another process runs the services; waiting to take over")
            told = True
        await _wait(stop, ttl.total_seconds() / 3)
    return False


class _Web:
    """What the HTTP intake serves besides events and health."""

    def __init__(
        self,
        routers: Sequence[APIRouter],
        poller_lag: Callable[[], Lag] | None,
        serve: bool = True,
    ) -> None:
        self.routers = list(routers)
        self.poller_lag = poller_lag
        # False: no HTTP intake at all.
        self.serve = serve


async def _session(
    settings: Settings,
    engine: Engine,
    holder: str,
    states: _States,
    stop: asyncio.Event,
    clock: Now,
    ttl: timedelta,
    telegram: dict[str, Any],
    web: _Web,
    extra: Mapping[str, Extra],
) -> None:
    """The services, until `stop` or until the lease is lost.

    The intake starts first: a restarted process answers HTTP as soon as it
    can, while the bot connects to Telegram and the scheduler catches up.
    """
    ended = asyncio.Event()
    routers = list(web.routers)
    options: dict[str, Any] = {}
    if settings.telegram_token:
        states.expected.add("bot")
        # Every send checks that this holder still holds the lease (fencing).
        options = {"holder": holder, "on_lease_lost": ended.set, **telegram}
        if settings.telegram_webhook_url:
            from bots.telegram.bot import TelegramWebhook

            # Telegram posts to the intake's port; the bot and the route share the secret.
            webhook = TelegramWebhook(
                settings.telegram_webhook_url, settings.telegram_webhook_secret
            )
            webhook.read_seconds = settings.http.read_timeout_seconds
            routers.append(webhook.router())
            options["webhook"] = webhook
    poller_lag = web.poller_lag
    wakeup = asyncio.Event()  # set by the Worksection webhook: process what it stored at once
    if settings.worksection is not None:
        routers.append(worksection_router(settings, engine, clock=clock, wake=wakeup.set))
        poller_lag = poller_lag or _Lag(engine, clock)
    states.expected.add("scheduler")
    states.expected.update(extra)
    health = Health(states.values, states.expected, poller_lag)
    # The intake tells the scheduler which clocks it wrote (see bots.services.scheduler).
    written = WrittenClocks() if web.serve else None
    app = (
        create_app(settings, engine, clock=clock, health=health, routers=routers, written=written)
        if web.serve
        else None
    )
    async with asyncio.TaskGroup() as group:
        if app is not None:
            group.create_task(_run_intake(settings, app, states, ended))
        group.create_task(_relay(stop, ended))
        group.create_task(_keep_lease(engine, holder, states, ended, clock, ttl))
        if settings.telegram_token:
            group.create_task(_run_bot(settings, engine, states, ended, clock, options))
        if settings.worksection is not None:
            group.create_task(_worksection(settings, engine, ended, clock, wakeup, holder))
        group.create_task(
            run_scheduler(
                settings,
                engine,
                ended,
                clock=clock,
                # It fails only while the database cannot be read or written.
                on_state=lambda state: states.set("scheduler", state, SCHEDULER_FAILED),
                jobs=lambda scheduler: _jobs(scheduler, settings, engine, clock, holder),
                written=written,
            )
        )
        for name, service in extra.items():
            group.create_task(_run_extra(name, service, engine, states, ended))


async def _worksection(
    settings: Settings,
    engine: Engine,
    ended: asyncio.Event,
    clock: Now,
    wakeup: asyncio.Event,
    holder: str,
) -> None:
    """The connector, the hourly time sync and the own time logged back, on one client: one
    request a second between them."""
    assert settings.worksection is not None
    client = WorksectionClient.from_config(settings.worksection, engine, clock)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(
                run_worksection(
                    settings,
                    engine,
                    ended,
                    clock=clock,
                    wakeup=wakeup,
                    holder=holder,
                    client=client,
                )
            )
            group.create_task(run_time_sync(settings, engine, ended, client, clock=clock))
            if settings.time.log_own_time:
                group.create_task(
                    run_own_costs(settings, engine, ended, client, clock=clock, holder=holder)
                )
    finally:
        await client.aclose()


async def _run_extra(
    name: str, service: Extra, engine: Engine, states: _States, ended: asyncio.Event
) -> None:
    """One of the caller's services; its failure stops it alone, and shows as failed."""
    states.set(name, RUNNING)
    try:
        await service(engine, ended)
    except Exception as error:
        log.exception("the %s service stopped on an error", name)
        states.set(name, FAILED, f"stopped on an error: {error}")
        return
    states.set(name, STOPPED)


def _jobs(
    scheduler: AsyncIOScheduler, settings: Settings, engine: Engine, clock: Now, holder: str
) -> None:
    """The scheduler's jobs besides the clock alerts."""
    _daily_jobs(scheduler, settings, engine, clock)
    _email_jobs(scheduler, settings, engine, clock, holder)


def _daily_jobs(
    scheduler: AsyncIOScheduler, settings: Settings, engine: Engine, clock: Now
) -> None:
    """The reminders' daily run and then the receivables digest, at its hour on business
    days, and once now.

    Once now as well: a run missed while no process held the services is
    made up at start (`daily_dunning` does nothing before its hour, nor
    twice in a day; the digest is one row per recipient and day). The digest
    runs in the same job, after the run, so it lists the drafts just written.
    The daily backup, when `[backup] folder` is set (bots.services.backups).
    """
    from core.receivables.digest import queue_daily_digest

    async def run() -> None:
        try:
            await _dunning(engine, settings, clock)
            queued = await asyncio.to_thread(queue_daily_digest, engine, settings, clock)
        except asyncio.CancelledError:
            # The services stop mid-run: each step commits whole or not at
            # all, and the next start makes up what is left. Not an error.
            log.info("the reminders' daily run was interrupted by the services stopping")
            return
        except Exception:
            # Queued on the next start or tomorrow; a digest is never half written.
            log.exception("the receivables digest failed")
            return
        if queued:
            log.info("receivables digest queued")

    add_daily(
        scheduler,
        settings.receivables.run_at,
        settings.dunning_calendar(),
        run,
        timezone=settings.dunning_timezone,
        id="dunning",
        clock=clock,
    )
    scheduler.add_job(run, id="dunning-at-start")
    add_backup_job(scheduler, settings, clock)
    if settings.reports.weekly is not None:
        scheduler.add_job(
            _weekly_reports, "interval", minutes=15, args=(engine, settings, clock), id="reports"
        )
        scheduler.add_job(_weekly_reports, args=(engine, settings, clock), id="reports-at-start")
    if settings.billing.scheduled_run:
        args = (engine, settings, clock)
        scheduler.add_job(
            _billing_preview, "interval", minutes=BILLING_EVERY_MINUTES, args=args, id="billing"
        )
        scheduler.add_job(_billing_preview, args=args, id="billing-at-start")


# How often the services look whether the month's billing preview is due (it goes once a month).
BILLING_EVERY_MINUTES = 15


async def _billing_preview(engine: Engine, settings: Settings, clock: Now) -> None:
    """The month's billing preview to the assistants, from the first business day of the
    month (core.billing.monthly.queue_month_preview); issued when one presses Issue."""
    from core.billing.monthly import queue_month_preview

    try:
        queued = await asyncio.to_thread(queue_month_preview, engine, settings, clock)
    except asyncio.CancelledError:
        log.info("the billing preview was interrupted by the services stopping")
        return
    except Exception:
        # The next look tries again; the preview is queued whole or not at all.
        log.exception("the billing preview failed")
        return
    if queued:
        log.info("billing preview queued for %d assistant(s)", queued)


# How often the email outbox is drained (a queued invoice or reminder waits at most this).
EMAIL_EVERY = timedelta(minutes=1)


def _email_jobs(
    scheduler: AsyncIOScheduler, settings: Settings, engine: Engine, clock: Now, holder: str
) -> None:
    """The email outbox's drain (bots.email.drain), every minute and once now, when an
    SMTP server is configured. One turn at a time (the scheduler's max_instances)."""
    if not settings.email.host:
        return
    every = EMAIL_EVERY.total_seconds()
    args = (engine, settings, clock, holder)
    scheduler.add_job(_drain_email, "interval", seconds=every, args=args, id="email")
    scheduler.add_job(_drain_email, args=args, id="email-at-start")


async def _drain_email(engine: Engine, settings: Settings, clock: Now, holder: str) -> None:
    from bots.email.drain import drain_outbox

    try:
        summary = await asyncio.to_thread(drain_outbox, engine, settings, clock, holder=holder)
    except asyncio.CancelledError:
        # The worker thread finishes the email it holds and records it; the rest waits.
        log.info("the email drain was interrupted by the services stopping")
        return
    except Exception:
        # The next minute tries again; an email claimed and not settled becomes unknown.
        log.exception("the email drain failed")
        return
    if summary.sent or summary.failed or summary.unknown:
        log.info(
            "email: %d sent, %d retrying, %d failed, %d unknown",
            len(summary.sent),
            len(summary.retrying),
            len(summary.failed),
            len(summary.unknown),
        )


async def _weekly_reports(engine: Engine, settings: Settings, clock: Now) -> None:
    """The clients' weekly reports (core.reports.drafts.weekly_reports): drafted, some sent."""
    from core.reports.drafts import weekly_reports

    try:
        summary = await asyncio.to_thread(weekly_reports, engine, settings, clock)
    except asyncio.CancelledError:
        log.info("the weekly reports' run was interrupted by the services stopping")
        return
    except Exception:
        # The next quarter of an hour tries again; each report is written whole or not at all.
        log.exception("the weekly reports' run failed")
        return
    if summary is not None and (summary.sent or summary.refused):
        log.info(
            "weekly reports of %s: %d sent, %d waiting, refused: %s",
            summary.period.iso_week,
            summary.sent,
            summary.waiting,
            "; ".join(summary.refused or []) or "none",
        )


async def _dunning(engine: Engine, settings: Settings, clock: Now) -> None:
    try:
        summary = await asyncio.to_thread(daily_dunning, engine, settings, clock)
    except Exception:
        # Tomorrow's run, or the next start, tries again; nothing was half written.
        log.exception("the reminders' daily run failed")
        return
    if summary is not None:
        log.info("reminders' daily run: %s", summary)


class _Lag:
    """How far behind the Worksection poller is, for /healthz, read at most every few seconds."""

    EVERY = 5.0

    def __init__(self, engine: Engine, clock: Now) -> None:
        self.engine, self.clock = engine, clock
        self._value: float | None = None
        self._read_at = float("-inf")

    def __call__(self) -> float | None:
        if time.monotonic() - self._read_at >= self.EVERY:
            self._value = poll_lag(self.engine, self.clock())
            self._read_at = time.monotonic()
        return self._value


async def _relay(stop: asyncio.Event, ended: asyncio.Event) -> None:
    """End the session when asked to stop (or when it ended for another reason)."""
    await wait_any(stop, ended)
    ended.set()


async def _keep_lease(
    engine: Engine,
    holder: str,
    states: _States,
    ended: asyncio.Event,
    clock: Now,
    ttl: timedelta,
) -> None:
    every = ttl.total_seconds() / 3
    renewed = time.monotonic()
    while not ended.is_set():
        states.changed.clear()
        try:
            kept = await asyncio.to_thread(
                renew, engine, holder, states.values, clock(), ttl, failures=dict(states.failures)
            )
            renewed = time.monotonic()
        except Exception:
            # The database is busy or away: try again soon while the lease lasts;
            # past that, another process may have taken over.
            log.exception("could not renew the services lease")
            kept = time.monotonic() - renewed < ttl.total_seconds()
        if not kept:
            log.error("the services lease was lost or taken over: stopping the services")
            ended.set()
            return
        await wait_any(ended, states.changed, timeout=every)


async def _run_bot(
    settings: Settings,
    engine: Engine,
    states: _States,
    ended: asyncio.Event,
    clock: Now,
    options: dict[str, Any],
) -> None:
    """Run the bot until the session ends; retry its start while Telegram is out of reach."""
    # python-telegram-bot is imported here, in a thread: its import takes a good
    # part of a second, during which the intake, started first, already serves.
    bot_module = await asyncio.to_thread(importlib.import_module, "bots.telegram.bot")
    from telegram.error import InvalidToken, TelegramError

    service_type: type[TelegramService] = bot_module.TelegramService
    backoff = Backoff()
    failures = 0
    while not ended.is_set():
        states.set("bot", STARTING)
        try:
            service = service_type(settings, engine, clock=clock, **options)
            await service.run(ended, started=lambda: states.set("bot", RUNNING))
        except InvalidToken as error:
            log.error("Telegram refused the bot's token (%s): the bot stays off", error)
            states.set("bot", FAILED, f"Telegram refused the bot's token ({error})")
            return
        except Exception as error:
            # Telegram out of reach at start (NetworkError), or a bug: retry, with backoff.
            delay = backoff.delay(failures)
            failures += 1
            log.warning(
                "the bot stopped (%s); starting it again in %.0f s",
                error,
                delay,
                exc_info=not isinstance(error, TelegramError),
            )
            states.set("bot", STARTING)
            await _wait(ended, delay)
            continue
        states.set("bot", STOPPED)
        return


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the command that runs the services owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


# The longest wait between two tries to listen on a taken port: a paused former
# holder frees it as soon as it resumes and finds its lease gone.
BIND_RETRY_CAP = 3.0
# How long a stopping intake lets requests in flight finish (their transaction included).
GRACEFUL_SECONDS = 10.0


async def _run_intake(settings: Settings, app: Any, states: _States, ended: asyncio.Event) -> None:
    """Serve the intake on the configured host and port until the session ends.

    A port that is taken (another program, a pmdesk serving another
    database, or a paused former holder of this one's lease) fails the
    intake, not the other services: it is tried again, every few seconds at
    most, until it is free.
    """
    host, port = settings.http.host, settings.http.port
    if not settings.webhook_secret:
        log.warning(
            "no PMDESK_WEBHOOK_SECRET: POST /v1/events refuses every event until one is set"
        )
    backoff = Backoff(first=0.5, cap=BIND_RETRY_CAP)
    failures = 0
    while not ended.is_set():
        states.set("intake", STARTING)
        try:
            sock = _listen(host, port)
        except OSError as error:
            delay = backoff.delay(failures)
            failures += 1
            log.error(
                "the HTTP intake cannot listen on %s:%d (%s); trying again in %.0f s",
                host,
                port,
                error.strerror or error,
                delay,
            )
            states.set(
                "intake", FAILED, f"cannot listen on {host}:{port} ({error.strerror or error})"
            )
            await _wait(ended, delay)
            continue
        try:
            await _serve(app, sock, states, ended, settings)
        finally:
            sock.close()
        if ended.is_set():
            states.set("intake", STOPPED)
            return
        delay = backoff.delay(failures)
        failures += 1
        log.error("the HTTP intake stopped on its own; starting it again in %.0f s", delay)
        states.set("intake", FAILED, "the HTTP intake stopped on its own")
        await _wait(ended, delay)


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port`; raises OSError when the port is taken."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Rebinding straight after a restart (connections in TIME_WAIT) is
        # fine; a port another process listens on is still refused.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def intake_config(app: Any, settings: Settings) -> uvicorn.Config:
    """How uvicorn serves the intake: its protocol guarded (bots.http.connections)."""
    limits = settings.http
    return uvicorn.Config(
        app,
        http=guarded_protocol(limits.read_timeout_seconds, limits.max_connections),
        lifespan="on",
        log_config=None,  # the process's logging stays as the command set it
        access_log=False,
        timeout_graceful_shutdown=int(GRACEFUL_SECONDS),
    )


async def _serve(
    app: Any, sock: socket.socket, states: _States, ended: asyncio.Event, settings: Settings
) -> None:
    server = _Server(intake_config(app, settings))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="pmdesk-intake")
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.started:
        host, port = sock.getsockname()[:2]
        log.info("HTTP intake listening on http://%s:%d", host, port)
        states.set("intake", RUNNING)
        await wait_any(ended, _done_event(serving))
    # Stop taking requests; those in flight finish, then the app's writer
    # commits what it was given (see bots.http.intake).
    server.should_exit = True
    try:
        await serving
    except Exception as error:
        log.exception("the HTTP intake stopped with an error")
        states.set("intake", FAILED, f"the HTTP intake stopped with an error: {error}")


def _done_event(task: asyncio.Task[None]) -> asyncio.Event:
    done = asyncio.Event()
    task.add_done_callback(lambda _: done.set())
    return done


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
