"""The dashboard's measure of the time on each thread, driven through the pilot on a moved clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from textual import events

from core.config.settings import Settings
from core.store.reader import EngineReader, sqlite_path
from core.time.own import own_days
from tests.support import MovableClock
from tests.tui.test_dashboard import make_app, on_the_panels, open_thread, until
from tui.app import Dashboard

DAY = date(2026, 11, 23)
ROOT = Path(__file__).resolve().parents[2]


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


WRITE_PROBE = """
import json, os, sys
from datetime import date
os.environ["PMDESK_DB"] = {db!r}
from core.config.quick import quick_settings
from tui.app import Dashboard
from tui.sources.backend import Backend

settings = quick_settings()
app = Dashboard(settings, Backend(settings))
app.own_time.give_back({{({thread}, date(2026, 11, 23)): 42.0}})
app.write_own_time()
print(json.dumps(sorted({{name.partition(".")[0] for name in sys.modules}})))
"""


@pytest.mark.sqlite_only  # the database layer is what reaches PostgreSQL
def test_on_a_sqlite_file_the_time_is_written_without_loading_sqlalchemy(
    agency: Engine, engine_url: str, tmp_path: Path
) -> None:
    # Loading SQLAlchemy and the models for the first write took the screen's
    # interpreter for close to a second, just after a thread was closed.
    assert sqlite_path(engine_url) is not None
    with agency.connect() as connection:
        thread = connection.execute(text("SELECT id FROM thread WHERE title = 'Task T3'")).scalar()
    completed = subprocess.run(
        [sys.executable, "-c", WRITE_PROBE.format(db=engine_url, thread=thread)],
        cwd=ROOT,
        env={**os.environ, "PMDESK_CONFIG": "", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "sqlalchemy" not in json.loads(completed.stdout.splitlines()[-1])
    assert kept(agency) == {"Task T3": 42}
