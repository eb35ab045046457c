"""`pmdesk` runs the background services in the dashboard's process (pmdesk.dashboard)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from core.base.instants import utc_now
from core.config.settings import Settings
from core.store.db import open_database
from core.store.lease import acquire, default_holder, services_seen
from core.store.reader import EngineReader
from pmdesk.dashboard import services_job
from tests.conftest import round_the_clock_settings


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def seen_from_elsewhere(engine: Engine) -> dict[str, str]:
    return services_seen(EngineReader(engine), utc_now(), "another process").states


def settings_for(tmp_path: Path) -> Settings:
    return round_the_clock_settings().model_copy(update={"db": str(tmp_path / "pmdesk.db")})


def test_the_services_run_in_the_dashboards_process_and_stop_with_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine = open_database(settings.db)
    stop, stopped = threading.Event(), threading.Event()
    holder = default_holder()
    job = threading.Thread(target=services_job(settings, utc_now, stopped, holder), args=(stop,))
    job.start()
    try:
        # Seen from another process, they run elsewhere; seen by this dashboard, here.
        # Each service reports itself once it runs: the intake may come after the scheduler.
        assert wait_for(lambda: seen_from_elsewhere(engine)["scheduler"] == "elsewhere")
        assert wait_for(lambda: seen_from_elsewhere(engine)["intake"] == "elsewhere")
        here = services_seen(EngineReader(engine), utc_now(), holder).states
        assert here == {"intake": "running", "scheduler": "running", "bot": "stopped"}
        assert not stopped.is_set()
    finally:
        stop.set()
        job.join(timeout=15)
    assert stopped.is_set()
    # The lease is given back on the way out: nothing runs anywhere.
    assert set(services_seen(EngineReader(engine), utc_now()).states.values()) == {"stopped"}


def test_the_dashboard_leaves_the_services_to_the_process_that_runs_them(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine = open_database(settings.db)
    assert acquire(engine, "pmdesk serve elsewhere", {}, utc_now(), timedelta(minutes=5))
    stop, stopped = threading.Event(), threading.Event()
    job = threading.Thread(target=services_job(settings, utc_now, stopped), args=(stop,))
    job.start()
    time.sleep(1.0)  # long enough to have tried for the lease
    stop.set()
    job.join(timeout=15)
    assert stopped.is_set()
    with engine.connect() as connection:
        holder = connection.exec_driver_sql("SELECT holder FROM lease").scalar_one()
    assert holder == "pmdesk serve elsewhere"
