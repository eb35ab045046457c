"""Opening the dashboard: the command line's `pmdesk`, `pmdesk manager` and `pmdesk demo`.

The demo's dashboard runs, in its own process and on its own database, the
simulated agency and the services that make sense without a network: the
scheduler, and the simulated clients, who take the replies in place of
Telegram and Worksection (core.demo.simulator.deliver_to_simulated_clients) and thank
for them. No HTTP intake, no bot, no Worksection connector.

Kept apart from the command line (typer) so that `pmdesk` alone, the way the
assistant starts the day, opens the dashboard without building every
command's options first: about a tenth of a second of its start-up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.base.instants import Now, utc_now

if TYPE_CHECKING:
    import asyncio

    from sqlalchemy import Engine

    from bots.services.runner import Extra
    from core.config.quick import FirstSettings
    from core.config.settings import Settings
    from core.demo.simulator import Simulator
    from tui.app import Dashboard
    from tui.sources.backend import Backend

# How long quitting waits for the services to stop and give back their lease.
SERVICES_STOP_SECONDS = 10.0
# How often the services' thread looks whether the dashboard is closing.
STOP_POLL_SECONDS = 0.2
# The demo's service that delivers replies to its simulated clients, and the
# services its top line shows (it runs no intake and no bot).
SIMULATED_CLIENTS = "simulated clients"
DEMO_SERVICES = ("scheduler", SIMULATED_CLIENTS)
# How often the simulated clients look for replies, and the simulator for events.
DEMO_SECONDS = 1.0

log = logging.getLogger("pmdesk.dashboard")


def run_dashboard(
    settings: FirstSettings,
    clock: Now = utc_now,
    start: str = "main",
    validate: Callable[[], Settings] | None = None,
    services: bool = True,
) -> None:
    """Open the dashboard on `settings`' database until the assistant quits.

    The background services (bots.services.runner) run in this process too, unless
    another process runs them for this database; they start once the screen
    shows its first data, and stop with the dashboard. Without `services`
    (a browser's dashboard under `pmdesk web`), they are left to `pmdesk serve`.

    `settings`: the whole configuration, or with `validate` the few values
    the first screenful needs (core.config.quick); the dashboard validates
    the whole once that screenful is shown, and a ConfigError found then is
    raised here once the screen is closed.
    """
    from core.store.lease import default_holder

    # The services this process runs show as running here, not as another process's.
    holder = default_holder()
    backend = start_backend(settings, clock, holder, validate=validate)
    from tui.app import Dashboard  # Textual and the screens: while the first read runs

    log_to_file()
    stopped = threading.Event()

    def run_services(stop: threading.Event) -> None:
        # Started once the configuration is validated (Dashboard.loaded).
        services_job(backend.settings, clock, stopped, holder)(stop)

    jobs = [run_services] if services else []
    app = Dashboard(settings, backend, start=start, jobs=jobs)
    _run(app, stopped)
    if app.config_error is not None:
        raise app.config_error


def validated_settings() -> Settings:
    """The whole configuration, read and validated (pydantic loads here)."""
    from core.config.settings import load_settings

    return load_settings()


def run_demo(
    settings: Settings, simulator: Simulator, since: datetime, clock: Now = utc_now
) -> None:
    """Open the demo's dashboard (see `demo_dashboard`) until the newcomer quits."""
    log_to_file()
    _run(*demo_dashboard(settings, simulator, since, clock))


def demo_dashboard(
    settings: Settings, simulator: Simulator, since: datetime, clock: Now = utc_now
) -> tuple[Dashboard, threading.Event]:
    """The demo's dashboard, and an event set once its services have stopped.

    Its jobs: the simulator, fed into the database from `since` (when the
    demo was seeded) on, and the demo's services (see the module). Whatever
    the environment says, it reaches neither Telegram nor Worksection, and
    acts as the demo agency's assistant; a toast says so on the first screen.
    """
    from core.store.lease import default_holder

    settings = settings.model_copy(
        update={"telegram_token": None, "worksection": None, "operator": None}
    )
    holder = default_holder()
    backend = start_backend(settings, clock, holder, names=DEMO_SERVICES, mode="demo")
    from tui.app import Dashboard

    stopped = threading.Event()
    engine = backend.engine
    jobs = [
        simulate_job(engine, settings, simulator, since, clock),
        services_job(settings, clock, stopped, holder, demo=simulator),
    ]
    me = backend.operator()
    notice = (
        f"You act as {me.name} ({me.role}) at {settings.agency}, a demo agency. "
        "Its clients are simulated: your replies reach them here, and nothing leaves "
        "this machine."
    )
    return Dashboard(settings, backend, jobs=jobs, notice=notice), stopped


def _run(app: Dashboard, stopped: threading.Event) -> None:
    app.run()
    if app.jobs_started and not stopped.wait(SERVICES_STOP_SECONDS):
        log.warning("the services did not stop in time; their lease lapses on its own")


def simulate_job(
    engine: Engine,
    settings: Settings,
    simulator: Simulator,
    since: datetime,
    clock: Now = utc_now,
    created: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[threading.Event], None]:
    """A job feeding the simulator's events through ingestion every second until stopped.

    `created`: told of each event stored (`pmdesk demo --print` prints them).
    """

    def job(stop: threading.Event) -> None:
        from core.conversations.ingest import Ingestor

        ingestor = Ingestor.for_settings(engine, settings, clock=clock)
        last = since
        while not stop.wait(DEMO_SECONDS):
            current = clock()
            events = simulator.events_between(last, current)
            last = current
            for event, result in zip(events, ingestor.ingest(events), strict=True):
                if created is not None and result.status == "created":
                    created(event)

    return job


def services_job(
    settings: Settings,
    clock: Now,
    stopped: threading.Event,
    holder: str | None = None,
    *,
    demo: Simulator | None = None,
) -> Callable[[threading.Event], None]:
    """A dashboard job running the services in its own event loop until the dashboard closes.

    The loop runs in the job's thread: the services' network work and their
    imports (Telegram, the HTTP server) stay off the screen's thread. With
    `demo`, the demo's services (see the module), its clients told by it.
    """

    def job(stop: threading.Event) -> None:
        try:
            import asyncio

            asyncio.run(_services_until(settings, clock, stop, holder, demo))
        except Exception:
            log.exception("the background services stopped on an error")
        finally:
            stopped.set()

    return job


async def _services_until(
    settings: Settings,
    clock: Now,
    stop: threading.Event,
    holder: str | None,
    demo: Simulator | None,
) -> None:
    import asyncio

    from bots.services.runner import run_services

    ended = asyncio.Event()

    async def relay() -> None:
        # A poll rather than a thread blocked on `stop`: nothing to clean up after.
        while not stop.is_set():
            await asyncio.sleep(STOP_POLL_SECONDS)
        ended.set()

    relay_task = asyncio.create_task(relay())
    extra: dict[str, Extra] = {}
    if demo is not None:
        extra[SIMULATED_CLIENTS] = lambda engine, done: simulated_clients(engine, demo, clock, done)
    try:
        await run_services(
            settings, ended, clock=clock, holder=holder, intake=demo is None, extra=extra
        )
    finally:
        relay_task.cancel()


async def simulated_clients(
    engine: Engine, simulator: Simulator, clock: Now, ended: asyncio.Event
) -> None:
    """The demo's channel: replies reach the simulated clients, who are told to thank.

    A turn that fails (the database busy for too long) is tried again on
    the next: the replies wait, pending, and the service goes on.
    """
    import asyncio
    import contextlib

    from core.demo import simulator as demo

    while not ended.is_set():
        at = clock()
        try:
            delivered = await asyncio.to_thread(demo.deliver_to_simulated_clients, engine, at)
        except Exception:
            log.exception("the simulated clients could not take the replies; trying again")
            delivered = []
        if delivered:
            simulator.delivered(delivered, at)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), DEMO_SECONDS)


def log_to_file() -> None:
    """Send this process's log to a file: on the terminal it would draw over the screen."""
    from logging.handlers import RotatingFileHandler

    from core.base.paths import default_log_path
    from pmdesk.logfile import PrivateLogFile

    root = logging.getLogger()
    if any(isinstance(handler, RotatingFileHandler) for handler in root.handlers):
        return
    path = default_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = PrivateLogFile(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        handler = None
    root.addHandler(handler or logging.NullHandler())
    if handler is not None:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line for every request


def start_backend(
    settings: FirstSettings,
    clock: Now = utc_now,
    holder: str | None = None,
    *,
    names: Sequence[str] | None = None,
    mode: str | None = None,
    validate: Callable[[], Settings] | None = None,
) -> Backend:
    """The dashboard's way to the database, with its first read already under way.

    No engine here: the first read creates or upgrades the database if it
    must (core.store.connect.reader_for), and the ORM is imported on the first action.
    `names`: the services the top line shows (all of them by default);
    `mode`: what it says before them ("demo"); `validate`: see Backend.
    """
    from core.store.lease import NAMES, services_seen
    from tui.sources.backend import Backend
    from tui.sources.watch import first_read

    shown = tuple(names or NAMES)
    backend = Backend(
        settings,
        clock,
        services=lambda reader: services_seen(reader, clock(), holder, shown),
        mode=mode,
        validate=validate,
    )
    backend.prefetch(first_read)
    return backend
