"""The dashboard's measure of the time on each thread, driven through the pilot on a moved clock."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, text
from textual import events

from core.config.settings import Settings
from core.store.reader import EngineReader
from core.time.own import own_days
from tests.support import MovableClock
from tests.tui.test_dashboard import make_app, on_the_panels, open_thread, until
from tui.app import Dashboard

DAY = date(2026, 11, 23)


def kept(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        titles = dict(connection.execute(text("SELECT id, title FROM thread")).all())
    return {titles[d.thread_id]: d.screen_seconds for d in own_days(EngineReader(engine), DAY, DAY)}


async def test_the_thread_in_front_is_measured_and_written_on_close_and_on_exit(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(pilot.app, Dashboard)
        await open_thread(pilot, "Task T3")
        clock.advance(seconds=30)
        await pilot.press("down")
        await pilot.press("r")  # writing a reply...
        app.own_time_tick()
        app.post_message(events.AppBlur())  # ...and looking something up elsewhere
        await until(pilot, lambda: not app.app_focus)
        clock.advance(seconds=40)
        app.post_message(events.AppFocus())
        await until(pilot, lambda: app.app_focus)
        await pilot.press("x")
        clock.advance(seconds=20)
        await pilot.press("ctrl+r")
        assert kept(agency) == {}  # nothing written per key
        await pilot.press("escape")
        await until(pilot, lambda: on_the_panels(pilot))
        app.own_time_tick()  # the thread closed: written now
        await until(pilot, lambda: kept(agency) == {"Task T3": 90})
        # Away for a while, nothing counts; then a last thread, written on exit.
        clock.advance(minutes=30)
        await open_thread(pilot, "Task T2")
        clock.advance(seconds=10)
        await pilot.press("down")
        clock.advance(seconds=5)
    assert kept(agency) == {"Task T3": 90, "Task T2": 15}


async def test_unfocused_without_a_reply_and_idle_count_nothing(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T3")
        clock.advance(seconds=20)
        app.post_message(events.AppBlur())
        await until(pilot, lambda: not app.app_focus)
        clock.advance(minutes=10)
        app.post_message(events.AppFocus())
        await until(pilot, lambda: app.app_focus)
        clock.advance(minutes=10)  # no key at all: a minute counts, then idle
        app.own_time_tick()
        await until(pilot, lambda: kept(agency) == {"Task T3": 80})
        await pilot.press("escape")
    assert kept(agency) == {"Task T3": 80}
