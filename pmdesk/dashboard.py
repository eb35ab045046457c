"""Opening the dashboard: the command line's `pmdesk`, `pmdesk manager` and `pmdesk demo`.

Kept apart from the command line (typer) so that `pmdesk` alone, the way the
assistant starts the day, opens the dashboard without building every
command's options first: about a tenth of a second of its start-up.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from core.paths import ConfigError
from core.reader import DatabaseError
from core.timeutil import Now, utc_now

if TYPE_CHECKING:
    from core.config import Settings
    from tui.backend import Backend

EXIT_USAGE = 2
# How long quitting waits for the services to stop and give back their lease.
SERVICES_STOP_SECONDS = 10.0
# How often the services' thread looks whether the dashboard is closing.
STOP_POLL_SECONDS = 0.2

log = logging.getLogger("pmdesk.dashboard")


def run_dashboard(
    settings: Settings,
    now: Now = utc_now,
    start: str = "main",
    jobs: Sequence[Any] = (),
    *,
    services: bool = True,
) -> None:
    """Open the dashboard on `settings`' database until the assistant quits.

    `services`: also run the background services (bots.services) in this
    process, unless another process runs them for this database; they start
    once the screen shows its first data, and stop with the dashboard.
    """
    from core.lease import default_holder

    # The services this process runs show as running here, not as another process's.
    holder = default_holder()
    backend = start_backend(settings, now, holder)
    from tui.app import Dashboard  # Textual and the screens: while the first read runs

    log_to_file()
    stopped = threading.Event()
    if services:
        jobs = [*jobs, services_job(settings, now, stopped, holder)]
    else:
        stopped.set()
    Dashboard(settings, backend, start=start, jobs=jobs).run()
    if not stopped.wait(SERVICES_STOP_SECONDS):
        log.warning("the services did not stop in time; their lease lapses on its own")


def services_job(
    settings: Settings, now: Now, stopped: threading.Event, holder: str | None = None
) -> Callable[[threading.Event], None]:
    """A dashboard job running the services in its own event loop until the dashboard closes.

    The loop runs in the job's thread: the services' network work and their
    imports (Telegram, the HTTP server) stay off the screen's thread.
    """

    def job(stop: threading.Event) -> None:
        try:
            import asyncio

            asyncio.run(_services_until(settings, now, stop, holder))
        except Exception:
            log.exception("the background services stopped on an error")
        finally:
            stopped.set()

    return job


async def _services_until(
    settings: Settings, now: Now, stop: threading.Event, holder: str | None
) -> None:
    import asyncio

    from bots.services import run_services

    ended = asyncio.Event()

    async def relay() -> None:
        # A poll rather than a thread blocked on `stop`: nothing to clean up after.
        while not stop.is_set():
            await asyncio.sleep(STOP_POLL_SECONDS)
        ended.set()

    relay_task = asyncio.create_task(relay())
    try:
        await run_services(settings, ended, now=now, holder=holder)
    finally:
        relay_task.cancel()


def log_to_file() -> None:
    """Send this process's log to a file: on the terminal it would draw over the screen."""
    from logging.handlers import RotatingFileHandler

    from core.paths import default_log_path
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


def start_backend(settings: Settings, now: Now = utc_now, holder: str | None = None) -> Backend:
    """The dashboard's way to the database, with its first read already under way.

    No engine here: the first read creates or upgrades the database if it
    must (core.reader.reader_for), and the ORM is imported on the first action.
    """
    from core.lease import service_states
    from tui.backend import Backend
    from tui.watch import first_read

    backend = Backend(settings, now, services=lambda reader: service_states(reader, now(), holder))
    backend.prefetch(first_read)
    return backend


def main() -> None:
    """`pmdesk`: straight to the dashboard when given nothing else in a terminal."""
    if len(sys.argv) > 1 or not (sys.stdin.isatty() and sys.stdout.isatty()):
        from pmdesk.cli import main as command_line

        command_line()
        return
    from core.config import load_settings

    try:
        run_dashboard(load_settings())
    except (ConfigError, DatabaseError) as error:
        # As the command line says it (pmdesk.cli.command): one line, exit 2.
        from core.text import clean

        print(f"pmdesk: {clean(str(error))}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
