"""kill -9 of `pmdesk serve` under load: every acknowledged event is there afterwards,
and the clocks are what a replay of the stored events gives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.faults.support import (
    Serve,
    clocks,
    integrity,
    post_events,
    replayed_clocks,
    stored_ids,
)
from tests.support import make_event

SENDERS = 8
BATCH = 20
LOAD_SECONDS = 3.0


def sender(
    base: str, number: int, acknowledged: set[str], stop: threading.Event, lock: threading.Lock
) -> None:
    """Post batches of client messages and staff replies until stopped or refused."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    sent = 0
    with httpx.Client(base_url=base) as http:
        while not stop.is_set():
            events: list[dict[str, Any]] = []
            for _ in range(BATCH):
                role = "staff" if sent % 3 == 2 else "client"
                event = make_event(f"s{number}-{sent}", 0, role=role, task=f"T{number}-{sent % 7}")
                event["occurred_at"] = (start + timedelta(milliseconds=sent)).isoformat()
                events.append(event)
                sent += 1
            try:
                answer = post_events(http, events, timeout=10)
            except httpx.TransportError:
                return  # the server is gone
            if answer.status_code == 200:
                with lock:
                    acknowledged.update(
                        item["id"]
                        for item in answer.json()["results"]
                        if item["status"] in ("created", "duplicate")
                    )


def test_kill_9_under_load_loses_no_acknowledged_event(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    db = tmp_path / "pmdesk.db"
    serve = Serve(db, tmp_path).start()
    acknowledged: set[str] = set()
    stop, lock = threading.Event(), threading.Lock()
    threads = [
        threading.Thread(target=sender, args=(serve.base, n, acknowledged, stop, lock))
        for n in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(LOAD_SECONDS)
    serve.kill()
    stop.set()
    for thread in threads:
        thread.join(15)

    stored = stored_ids(db)
    missing = acknowledged - stored
    live, replay = clocks(db), replayed_clocks(db)

    assert acknowledged, "the load never got an answer"
    assert missing == set()
    assert integrity(db) == "ok"
    assert live == replay
    say(
        f"{SENDERS} senders, killed with SIGKILL after {LOAD_SECONDS:g} s: "
        f"{len(acknowledged)} events acknowledged, all present ({len(stored)} stored); "
        f"integrity ok; {len(live)} clocks equal to a replay of the stored events"
    )
