"""The first read started before the screens load (Backend.prefetch), as `pmdesk` does it."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.sla.report import sla_report
from tests.support import MovableClock, make_event
from tests.tui.test_dashboard import main_screen, until
from tui.app import Dashboard
from tui.panels.clocks import ClocksPanel
from tui.panels.feed import IncomingPanel
from tui.screens.main import MainScreen
from tui.sources.backend import Backend
from tui.sources.watch import first_read, sla_figures


async def test_the_early_first_read_is_shown_and_a_commit_made_after_it_still_appears(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, ingestor: Ingestor
) -> None:
    reads: list[str] = []

    def counted(backend: Backend) -> Any:
        reads.append(threading.current_thread().name)
        return first_read(backend)

    backend = Backend(dashboard_settings, clock)
    backend.prefetch(counted)
    assert backend._prefetch is not None
    backend._prefetch.join()
    # Committed after the early read and before the watcher's first turn.
    ingestor.ingest([make_event("late-1", 20, task="T8", client="Bigco", text="Still there?")])

    async with Dashboard(dashboard_settings, backend).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        clocks = screen.query_one(ClocksPanel)
        assert reads == ["pmdesk-prefetch"]  # read once, in its own thread
        await until(pilot, lambda: incoming.items[0].thread == "Task T8", seconds=2)
        assert "Task T8" in [c.thread for c in clocks.clocks]
        assert "Task T5" in [item.thread for item in incoming.items]  # from the early read


async def test_the_first_frame_of_the_main_screen_holds_the_early_read(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    """No frame of empty panels first: the screen waits on mount for the early read."""
    backend = Backend(dashboard_settings, clock)
    backend.prefetch(first_read)
    app = Dashboard(dashboard_settings, backend)
    frames: list[tuple[bool, list[str]]] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        if isinstance(screen, MainScreen) and renderable is not None:
            items = screen.query_one(IncomingPanel).items
            frames.append((screen.loaded, [item.thread for item in items]))
        original(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.pause()
        loaded, threads = frames[0]
        assert loaded
        assert threads[:2] == ["Task T5", "Task T4"]


async def test_a_failed_early_read_is_read_again_by_the_watcher(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    def broken(backend: Backend) -> Any:
        raise RuntimeError("disk on fire")

    backend = Backend(dashboard_settings, clock)
    backend.prefetch(broken)
    async with Dashboard(dashboard_settings, backend).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        assert [item.thread for item in incoming.items][:2] == ["Task T5", "Task T4"]
        assert backend.take_prefetched() is None


async def test_jobs_start_once_the_first_data_is_shown_and_are_told_to_stop_on_exit(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    started = threading.Event()
    stopped = threading.Event()
    loaded_when_started: list[bool] = []

    app = Dashboard(dashboard_settings, Backend(dashboard_settings, clock))

    def job(stop: threading.Event) -> None:
        screens = [screen for screen in app.screen_stack if hasattr(screen, "loaded")]
        loaded_when_started.append(bool(screens) and all(s.loaded for s in screens))
        started.set()
        stop.wait(10)
        stopped.set()

    app.jobs = [job]
    async with app.run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await until(pilot, started.is_set)
        assert loaded_when_started == [True]
        assert not stopped.is_set()
    assert stopped.wait(5)


def test_the_sla_figures_read_each_query_once_and_equal_the_reports_read_apart(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    backend = Backend(dashboard_settings, clock)
    reader = backend.reader()
    asked: list[str] = []
    rows = reader.rows

    def counted(sql: str, params: Any = None) -> Any:
        asked.append(sql)
        return rows(sql, params)

    reader.rows = counted  # type: ignore[method-assign]
    now = clock()
    zone = ZoneInfo(dashboard_settings.timezone)
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)

    figures = sla_figures(backend, now)
    read = len(asked)

    assert figures.today == sla_report(reader, midnight, now, now)
    assert figures.week == sla_report(reader, midnight - timedelta(days=6), now, now)
    # Today's stops, the open clocks and the names: read for today, kept for the week.
    staff = "SELECT id, name FROM staff"
    assert asked[read:].count(staff) == 2
    assert asked[:read].count(staff) == 1
    assert len(asked[:read]) < len(asked[read:])
