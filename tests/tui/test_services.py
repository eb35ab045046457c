"""The background services as the dashboard shows them: the top line, a toast, the log view."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from core.base.instants import utc_now
from core.config.settings import HttpConfig, Settings
from core.store.lease import acquire, default_holder, services_seen
from pmdesk.dashboard import services_job, start_backend
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, until
from tui.app import Dashboard
from tui.screens.log import LogScreen
from tui.screens.main import StatusBar
from tui.sources.backend import Backend
from tui.sources.servicelog import ServiceLog


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


LONG = timedelta(minutes=5)


def status(app: Dashboard) -> str:
    return str(app.screen.query_one(StatusBar).render())


async def test_a_port_in_use_shows_failed_with_its_reason_once_as_a_toast_and_in_the_log(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    taken_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tui.screens.main.SERVICES_SECONDS", 0.3)
    settings = dashboard_settings.model_copy(
        update={"http": HttpConfig(host="127.0.0.1", port=taken_port)}
    )
    holder = default_holder()
    backend = Backend(
        settings, clock, services=lambda reader: services_seen(reader, utc_now(), holder)
    )
    stopped = threading.Event()
    app = Dashboard(settings, backend, jobs=[services_job(settings, utc_now, stopped, holder)])
    async with app.run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await until(pilot, lambda: "intake ✗ failed" in status(app), seconds=10)
        assert "Address already in use" in status(app)
        assert f"127.0.0.1:{taken_port}" in status(app)
        await until(pilot, lambda: "scheduler ● running" in status(app), seconds=10)
        await pilot.pause(2.5)  # the intake tries again, and fails again: no second toast
        toasts = [n for n in app._notifications if "intake" in n.message]
        assert len(toasts) == 1
        assert "Address already in use" in toasts[0].message

        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        log_screen = app.screen
        assert isinstance(log_screen, LogScreen)
        await until(pilot, lambda: "cannot listen" in log_screen.shown_text())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LogScreen))
    assert stopped.wait(15)


async def test_the_log_view_shows_what_the_services_logged_and_follows_new_lines(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = Dashboard(dashboard_settings, Backend(dashboard_settings, clock))
    async with app.run_test(size=(80, 24)) as pilot:
        await main_screen(pilot)
        logging.getLogger("pmdesk.bot").warning("Telegram is out of reach; trying again in 4 s")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        assert isinstance(screen, LogScreen)
        await until(pilot, lambda: "Telegram is out of reach" in screen.shown_text())
        logging.getLogger("pmdesk.scheduler").error("the reminders' daily run failed")
        await until(pilot, lambda: "daily run failed" in screen.shown_text(), seconds=3)
        assert "[bold]" not in screen.shown_text()


def test_a_failure_lasts_until_a_read_begun_after_it_sees_the_service_run() -> None:
    log = ServiceLog()
    logger = logging.getLogger("pmdesk.services")
    logger.addHandler(log)
    try:
        before = time.monotonic()
        logger.error("the HTTP intake cannot listen on %s:%d (%s)", "127.0.0.1", 8080, "in use")
        logger.error("the scheduler stopped: %s", "disk full")
        logger.error("something else went wrong")  # no service named: no service failed
    finally:
        logger.removeHandler(log)
    assert set(log.failures()) == {"intake", "scheduler"}
    assert "127.0.0.1:8080 (in use)" in log.failures()["intake"].message

    log.settle({"intake": "running", "scheduler": "stopped", "bot": "stopped"}, before)
    assert set(log.failures()) == {"intake", "scheduler"}  # that read began before the failure
    log.settle({"intake": "running", "scheduler": "stopped", "bot": "stopped"}, time.monotonic())
    assert set(log.failures()) == {"scheduler"}
    assert [entry.number for entry in log.entries(after=1)] == [2, 3]


async def test_a_failure_in_another_process_shows_failed_with_its_reason_and_one_toast(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pmdesk serve` runs the services beside the dashboard: the lease row says what failed."""
    monkeypatch.setattr("tui.screens.main.SERVICES_SECONDS", 0.3)
    reported = {"intake": "failed", "scheduler": "running", "bot": "stopped"}
    why = {"intake": "cannot listen on 127.0.0.1:8080 (Address already in use)"}
    assert acquire(agency, "pmdesk serve elsewhere", reported, clock(), LONG, failures=why)
    backend = start_backend(dashboard_settings, clock, default_holder())
    app = Dashboard(dashboard_settings, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await until(pilot, lambda: "intake ✗ failed" in status(app), seconds=10)
        assert "cannot listen on 127.0.0.1:8080 (Address already in use)" in status(app)
        assert "scheduler ◐ another process" in status(app)
        assert "○ stopped" not in status(app).split("bot")[0]
        await pilot.pause(1.0)  # read again and again: still one toast
        toasts = [n for n in app._notifications if "intake" in n.message]
        assert len(toasts) == 1 and "Address already in use" in toasts[0].message
        assert "another process: its log says more" in toasts[0].message

        # The other process's intake runs again: the failure is gone from the top line.
        acquire(agency, "pmdesk serve elsewhere", {**reported, "intake": "running"}, clock(), LONG)
        await until(pilot, lambda: "failed" not in status(app), seconds=10)
        assert "services ◐ another process" in status(app) or "intake ◐" in status(app)
