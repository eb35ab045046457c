"""A full disk: writes refused with 503, nothing half-written, and recovery once there is room.

Two ways: a real file system of a few MB (tmpfs, where this machine lets the
tests mount one; skipped elsewhere), under `pmdesk serve` as a process; and
everywhere, SQLite's own SQLITE_FULL, from a database not allowed to grow
past its pages (`PRAGMA max_page_count`), under the services run in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, event

from bots.services.runner import run_services
from core.config.settings import HttpConfig, Settings
from core.store.db import open_database
from tests.bots.http.test_intake import answers
from tests.bots.support import until
from tests.faults.support import (
    SECRET,
    Serve,
    clocks,
    integrity,
    post_events,
    replayed_clocks,
    stored_ids,
)
from tests.support import free_port, make_event


def batch(prefix: str, number: int, size: int = 10) -> list[dict[str, Any]]:
    """Client messages with long texts, on threads of their own: pages fill fast."""
    at = datetime.now(UTC) - timedelta(minutes=1)
    events = []
    for n in range(size):
        event = make_event(f"{prefix}{number}-{n}", 0, task=f"F{number}-{n}", text="x" * 20_000)
        event["occurred_at"] = at.isoformat()
        events.append(event)
    return events


def fill(http: httpx.Client, acknowledged: set[str], limit: int = 400) -> httpx.Response:
    """Post batches until one is refused; return the refusal."""
    for number in range(limit):
        answer = post_events(http, batch("e", number))
        if answer.status_code != 200:
            return answer
        acknowledged.update(item["id"] for item in answer.json()["results"])
    raise AssertionError("the disk never filled")


@contextlib.contextmanager
def small_file_system(folder: Path, size: str) -> Iterator[Callable[[str], None]]:
    """A tmpfs of `size` at `folder`; yields a function to resize it. Skips where not allowed."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here ({mounted.stderr.strip()})")

    def resize(new: str) -> None:
        subprocess.run(
            ["mount", "-o", f"remount,size={new}", str(folder)], check=True, capture_output=True
        )

    try:
        yield resize
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_file_system_refuses_writes_whole_and_recovers(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    disk = tmp_path / "disk"
    with small_file_system(disk, "3m") as resize:
        db = disk / "pmdesk.db"
        acknowledged: set[str] = set()
        with Serve(db, tmp_path) as serve, httpx.Client(base_url=serve.base) as http:
            refused = fill(http, acknowledged)
            health_full = http.get("/healthz", timeout=10)
            resize("64m")
            after = post_events(http, batch("after", 0))
            health_after = http.get("/healthz", timeout=10)
        checked = integrity(db)
        stored = stored_ids(db)
        live, replay = clocks(db), replayed_clocks(db)

    assert refused.status_code == 503 and refused.json()["error"] == "not_stored"
    assert health_full.status_code == 503
    assert "full" in health_full.json()["writes"]["last"]["error"]
    assert after.status_code == 200 and after.json()["created"] == 10
    assert health_after.status_code == 200
    assert checked == "ok"
    assert acknowledged <= stored
    assert {item for item in stored if item.startswith("e")} == acknowledged
    assert live == replay
    say(
        f"tmpfs of 3 MB filled by {len(acknowledged)} acknowledged events: the next batch "
        "answered 503 and left no row; /healthz 503 with the last write's error; integrity ok; "
        f"{len(live)} clocks equal to a replay; grown to 64 MB, the next batch was stored (200) "
        "and /healthz answered 200"
    )


async def test_sqlite_full_refuses_writes_whole_and_recovers(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    db = tmp_path / "pmdesk.db"
    engine = open_database(str(db))
    cap = {"pages": 0}

    @event.listens_for(engine, "begin")
    def _cap(connection: Connection) -> None:
        # Every transaction of the services sees the current cap: 0 lifts it.
        connection.exec_driver_sql(f"PRAGMA max_page_count = {cap['pages'] or 4294967294}")

    port = free_port()
    settings = Settings(
        policies={"default": {"calendar": "24/7"}},
        webhook_secret=SECRET,
        http=HttpConfig(port=port),
    )
    stop = asyncio.Event()
    services = asyncio.create_task(run_services(settings, stop, engine=engine, holder="here"))
    base = f"http://127.0.0.1:{port}"

    def exercise() -> tuple[set[str], httpx.Response, httpx.Response, httpx.Response, Any]:
        acknowledged: set[str] = set()
        with httpx.Client(base_url=base) as http:
            first = post_events(http, batch("e", 0))
            acknowledged.update(item["id"] for item in first.json()["results"])
            with engine.connect() as connection:
                cap["pages"] = connection.exec_driver_sql("PRAGMA page_count").scalar_one() + 20
            refused = fill(http, acknowledged)
            health_full = http.get("/healthz", timeout=10)
            cap["pages"] = 0
            after = post_events(http, batch("after", 0))
            health_after = http.get("/healthz", timeout=10)
        return acknowledged, refused, health_full, after, health_after

    try:
        await until(lambda: answers(port), timeout=15, what="the intake listening")
        acknowledged, refused, health_full, after, health_after = await asyncio.to_thread(exercise)
    finally:
        stop.set()
        await asyncio.wait_for(services, timeout=20)
        engine.dispose()
    stored = stored_ids(db)
    live, replay = clocks(db), replayed_clocks(db)

    assert refused.status_code == 503 and refused.json()["error"] == "not_stored"
    assert health_full.status_code == 503
    assert "full" in health_full.json()["writes"]["last"]["error"]
    assert after.status_code == 200 and after.json()["created"] == 10
    assert health_after.status_code == 200
    assert integrity(db) == "ok"
    assert {item for item in stored if item.startswith("e")} == acknowledged
    assert live == replay
    say(
        f"SQLITE_FULL after {len(acknowledged)} acknowledged events: the next batch answered "
        "503 and left no row; /healthz 503 with the last write's error; integrity ok; "
        f"{len(live)} clocks equal to a replay; with room again, the next batch was stored "
        "(200) and /healthz answered 200"
    )
