"""Benchmark: clock alerts written at their second by the scheduler.

`--clocks` (500) client messages open clocks whose due times fall within
one minute, on a round-the-clock policy of one minute (warned 15 seconds
before, escalated after 90 seconds), so that every clock's warning, breach
and escalation come within two minutes of the start. The scheduler
(bots.services.scheduler.run_scheduler) runs as the services run it; the messages
are ingested through a second engine on the same SQLite file, as
`pmdesk ingest` in another terminal would, in batches of 100 while the
scheduler runs, and a tenth of the clocks is answered before its warning
(those must stay silent; only clocks whose message is already past can be
answered, so with the defaults about 35 of them are).

Measured, for every alert expected (warning and breach to the assistant on
duty, escalation to the manager, for each unanswered clock): its lateness,
the row's `created_at` minus the instant it is for, and when a reader
polling every 20 ms first saw the row committed, minus the instant.
Counted: alerts missing, doubled, and written for answered clocks.
Target: p99 lateness within 1 s, none missing or doubled.

Also timed: rereading the running clocks (what the scheduler does when
something was committed) on the 1,000,000-event database of
bench/queries.py, when it exists under bench/out/.

    .venv/bin/python bench/alerts.py [--clocks 500] [--spread 60]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from figures import machine, percentile  # noqa: E402
from sqlalchemy import Engine, select  # noqa: E402

from bots.services.scheduler import run_scheduler  # noqa: E402
from core.base.instants import utc_now  # noqa: E402
from core.config.settings import Settings  # noqa: E402
from core.conversations.ingest import Ingestor  # noqa: E402
from core.conversations.people import add_staff  # noqa: E402
from core.sla.alerts import RunningClocks  # noqa: E402
from core.sla.policies import PolicyBook  # noqa: E402
from core.store.db import create_db_engine, open_database  # noqa: E402
from core.store.models.outbox import Notification  # noqa: E402
from core.store.models.system import table  # noqa: E402
from core.store.models.threads import Clock  # noqa: E402

NOTIFICATION, CLOCK = table(Notification), table(Clock)
TARGET_P99_S = 1.0
BATCH = 100
ANSWERED_EVERY = 10  # one clock in ten is answered before its warning
KIND_INSTANT = {
    "clock_warning": "warn_at",
    "clock_breach": "due_at",
    "clock_escalation": "escalate_at",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clocks", type=int, default=500)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the due times span")
    parser.add_argument("--poll", type=float, default=0.5, help="the scheduler's poll, seconds")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        alerts(args, Path(folder) / "alerts.db")
    reread()


def bench_settings(database: Path) -> Settings:
    policy = {
        "calendar": "24/7",
        "first_response_minutes": 1,
        "next_response_minutes": 1,
        "warn_before_minutes": 0.25,
        "escalate_after_minutes": 1.5,
    }
    return Settings(db=str(database), agency="Bench Agency", policies={"default": policy})


def message(index: int, at: datetime, role: str = "client") -> dict[str, Any]:
    author = (
        {"name": f"Client {index}", "email": f"c{index}@client.example", "role": "client"}
        if role == "client"
        else {"name": "Ana", "email": "ana@agency.example", "role": "staff"}
    )
    return {
        "id": f"{role}-{index}",
        "source": "bench",
        "kind": "message",
        "occurred_at": at.isoformat(),
        "client": f"Client {index % 40:02d}",
        "task": {"id": f"T{index}", "title": f"Task {index}"},
        "author": author,
        "text": f"message {index}",
    }


def alerts(args: argparse.Namespace, database: Path) -> None:
    settings = bench_settings(database)
    engine = open_database(str(database))
    other = open_database(str(database))  # the "other process" that ingests
    now = utc_now()
    add_staff(engine, "Ana", "assistant", ["ana@agency.example"], now)
    add_staff(engine, "Max", "manager", ["max@agency.example"], now)
    seen: dict[str, datetime] = {}
    stop = asyncio.Event()
    states: list[str] = []

    async def run() -> tuple[datetime, float]:
        scheduler = asyncio.create_task(
            run_scheduler(settings, engine, stop, on_state=states.append, poll=args.poll)
        )
        while "running" not in states:
            await asyncio.sleep(0.01)
        # Due times from start + 20 s to start + 20 s + spread: the first
        # warnings come 5 s after the start, the last escalation about
        # 50 s after the last due time.
        start = utc_now()
        first = start - timedelta(seconds=40)
        step = args.spread / args.clocks
        ingestor = Ingestor(other, PolicyBook(settings))
        watching = threading.Event()
        watcher = threading.Thread(target=watch, args=(engine, seen, watching), daemon=True)
        watcher.start()
        took = 0.0
        for offset in range(0, args.clocks, BATCH):
            batch = [
                message(index, first + timedelta(seconds=index * step))
                for index in range(offset, min(offset + BATCH, args.clocks))
            ]
            began = time.perf_counter()
            await asyncio.to_thread(ingestor.ingest, batch)
            took += time.perf_counter() - began
        # Replies before the warnings (the earliest warning is 5 s after the
        # start), to every tenth clock whose message is already written: a
        # reply older than the message would not answer it.
        replied_at = utc_now()
        replies = [
            message(index, replied_at, role="staff")
            for index in range(0, args.clocks, ANSWERED_EVERY)
            if first + timedelta(seconds=index * step) < replied_at
        ]
        await asyncio.to_thread(ingestor.ingest, replies)
        last = first + timedelta(seconds=args.spread + 90)
        await asyncio.sleep(max(0.0, (last - utc_now()).total_seconds()) + 2.0)
        stop.set()
        await scheduler
        watching.set()
        watcher.join()
        return start, took

    start, took = asyncio.run(run())
    print(f"ingested {args.clocks} clocks in {took:.2f} s (5 batches through a second engine)")
    report(engine, seen, start, args.clocks)
    engine.dispose()
    other.dispose()


def watch(engine: Engine, seen: dict[str, datetime], done: threading.Event) -> None:
    """Record when each alert is first visible to another reader, every 20 ms."""
    query = select(NOTIFICATION.c.dedupe_key).where(NOTIFICATION.c.kind.in_(KIND_INSTANT))
    while not done.is_set():
        with engine.connect() as connection:
            keys = connection.execute(query).scalars().all()
        moment = utc_now()
        for key in keys:
            seen.setdefault(key, moment)
        time.sleep(0.02)


def report(engine: Engine, seen: dict[str, datetime], start: datetime, clocks: int) -> None:
    instants = [CLOCK.c[name] for name in KIND_INSTANT.values()]
    with engine.connect() as connection:
        clock_rows = {
            row.id: row
            for row in connection.execute(select(CLOCK.c.id, CLOCK.c.outcome, *instants))
        }
        rows = connection.execute(
            select(
                NOTIFICATION.c.clock_id,
                NOTIFICATION.c.kind,
                NOTIFICATION.c.recipient_id,
                NOTIFICATION.c.dedupe_key,
                NOTIFICATION.c.created_at,
            ).where(NOTIFICATION.c.kind.in_(KIND_INSTANT))
        ).all()
    running = [clock_id for clock_id, row in clock_rows.items() if row.outcome == "running"]
    answered = set(clock_rows) - set(running)
    expected = {(clock_id, kind) for clock_id in running for kind in KIND_INSTANT}
    written = Counter((row.clock_id, row.kind) for row in rows)
    missing = expected - set(written)
    doubled = sum(count - 1 for count in written.values() if count > 1)
    unexpected = sum(1 for row in rows if row.clock_id in answered)
    lateness, visible = [], []
    for row in rows:
        if row.clock_id in answered:
            continue
        instant = getattr(clock_rows[row.clock_id], KIND_INSTANT[row.kind])
        lateness.append((row.created_at - instant).total_seconds())
        if row.dedupe_key in seen:
            visible.append((seen[row.dedupe_key] - instant).total_seconds())
    lateness.sort()
    visible.sort()
    print(
        f"clocks: {clocks} ({len(running)} left unanswered, {len(answered)} answered before "
        f"their warning); alerts expected: {len(expected)}, written: {len(rows)}"
    )
    print(
        "lateness (created_at - instant): "
        f"p50 {percentile(lateness, 50) * 1000:.1f} ms, "
        f"p99 {percentile(lateness, 99) * 1000:.1f} ms, "
        f"max {max(lateness, default=math.nan) * 1000:.1f} ms, "
        f"min {min(lateness, default=math.nan) * 1000:.1f} ms"
    )
    print(
        "seen by a reader polling every 20 ms (first seen - instant): "
        f"p50 {percentile(visible, 50) * 1000:.1f} ms, "
        f"p99 {percentile(visible, 99) * 1000:.1f} ms, "
        f"max {max(visible, default=math.nan) * 1000:.1f} ms"
    )
    met = percentile(lateness, 99) <= TARGET_P99_S and not missing and not doubled
    print(
        f"missing: {len(missing)}, doubled: {doubled}, written for answered clocks: "
        f"{unexpected} (target: p99 <= {TARGET_P99_S:g} s, none missing or doubled: "
        f"{'met' if met and not unexpected else 'NOT MET'})"
    )


def reread() -> None:
    """Time the scheduler's reread of the running clocks on bench/queries.py's database."""
    found = sorted((HERE / "out").glob("queries-*.db"))
    if not found:
        print("reread: no bench/out/queries-*.db (run bench/queries.py first); skipped")
        return
    engine = create_db_engine(str(found[-1]))
    reader = RunningClocks()
    times = []
    with engine.connect() as connection:
        total = connection.exec_driver_sql("SELECT count(*) FROM clock").scalar_one()
        for _ in range(10):
            began = time.perf_counter()
            running = reader.read(connection)
            times.append(time.perf_counter() - began)
    engine.dispose()
    print(
        f"reread of the running clocks on {found[-1].name}: {len(running)} running of "
        f"{total} clocks; first {times[0] * 1000:.1f} ms, then median "
        f"{sorted(times[1:])[len(times[1:]) // 2] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
