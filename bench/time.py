"""Benchmark: `pmdesk report am` over a year, and `time sync` bounded by Worksection's pacing.

1. The report: a database of 500,000 time rows over a year on 200 projects
   (stored through core.time.sync.apply_window, a month at a time: the time
   it takes per 1,000 rows is the storage side of a sync), with a team whose
   assistant's time counts by role; the monthly sums built under the rule
   (core.time.sums: what a change of the rule costs once); then am_report
   over the year and over a month, beside their peers (the same report
   read from the rows, as without sums, and the pass over the rows' index
   with a bare sum), and the whole `pmdesk report am --json` command in a
   fresh process beside the same command on an empty database (its
   start-up), medians of several runs. Target: under 0.5 s for the
   year.
2. The sync: a fake Worksection account (real HTTP on loopback) serving
   50,000 rows over a year and refusing calls closer than one second, as
   Worksection does; `sync_time` with the client paced at one request a
   second, into a database whose monthly sums are built (each window sums
   its month again). It prints the wall time, the requests, and the part
   spent storing: the sync is bounded by the pacing when storing is a small
   part.

    .venv/bin/python bench/time.py [--rows 500000] [--projects 200] [--sync-rows 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from figures import machine  # noqa: E402

YEAR_START, YEAR_END = date(2025, 12, 1), date(2026, 11, 30)
RULE = {"am_tags": ["AM", "Communication"], "am_task_words": ["report"], "am_roles": ["assistant"]}
STAFF = [
    (f"Person {n}", f"p{n}@agency.example", "assistant" if n < 3 else "specialist")
    for n in range(40)
]
TAGS = [[], [], [], ["AM"], ["Communication"], ["Design"], ["SEO"]]
NAMES = ["Homepage", "Backend", "Logo", "Monthly report", "Weekly call", "Ads", "Copy", "SEO audit"]


def rows(count: int, projects: int, start: date, end: date, seed: int = 7) -> list[dict[str, Any]]:
    """`count` rows spread over `start`..`end` and `projects` projects, ten tasks each."""
    pick = random.Random(seed)
    days = (end - start).days + 1
    made = []
    for number in range(count):
        project = pick.randrange(projects)
        task = pick.randrange(10)
        name, email, _role = STAFF[pick.randrange(len(STAFF))]
        minutes = pick.choice([15, 30, 45, 60, 90, 120, 180, 240])
        made.append(
            {
                "id": str(1_000_000 + number),
                "comment": "",
                "time": f"{minutes // 60}:{minutes % 60:02d}",
                "money": "0.00",
                "date": (start + timedelta(days=pick.randrange(days))).isoformat(),
                "is_timer": 0,
                "user_from": {"id": email, "email": email, "name": name},
                "task": {
                    "id": f"{project}-{task}",
                    "name": NAMES[task % len(NAMES)],
                    "page": f"/project/{project}/{project}-{task}/",
                    "project": {"id": str(project), "name": f"Project {project}"},
                    "tags": {str(n): tag for n, tag in enumerate(TAGS[task % len(TAGS)])},
                },
            }
        )
    return made


def months(start: date, end: date) -> list[tuple[date, date]]:
    found = []
    first = start
    while first <= end:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        found.append((first, min(end, following - timedelta(days=1))))
        first = following
    return found


def build(path: Path, count: int, projects: int) -> float:
    """The report's database; the seconds storing took per 1,000 rows."""
    from core.conversations.people import add_staff
    from core.store.db import open_database
    from core.time.sync import apply_window

    engine = open_database(str(path))
    now = datetime(2026, 12, 4, tzinfo=UTC)
    for name, email, role in STAFF:
        add_staff(engine, name, role, [email], now)
    made = rows(count, projects, YEAR_START, YEAR_END)
    by_month: dict[str, list[dict[str, Any]]] = {}
    for row in made:
        by_month.setdefault(row["date"][:7], []).append(row)
    spent = 0.0
    for first, last in months(YEAR_START, YEAR_END):
        part = by_month.get(first.strftime("%Y-%m"), [])
        began = time.perf_counter()
        apply_window(engine, part, first, last, clock=lambda: now)
        spent += time.perf_counter() - began
    engine.dispose()
    return spent / count * 1000


def sum_months(path: Path) -> tuple[float, float]:
    """Seconds to sum every month again under the rule (as after a change of it), and one
    month (as a sync that changed a row of it does)."""
    from core.config.settings import TimeConfig
    from core.store.db import open_database
    from core.time import sums

    engine = open_database(str(path))
    now = datetime(2026, 12, 4, tzinfo=UTC)
    with engine.begin() as connection:  # as if the rule had changed
        connection.exec_driver_sql("DELETE FROM timesumrule")
    began = time.perf_counter()
    assert sums.ensure(engine, TimeConfig(**RULE), now)
    spent = time.perf_counter() - began
    with engine.connect() as connection:
        transaction = connection.begin()
        began = time.perf_counter()
        sums.refresh(connection, {"2026-11"}, now)
        month = time.perf_counter() - began
        transaction.rollback()
    engine.dispose()
    return spent, month


def report_runs(path: Path, config_path: Path, runs: int) -> dict[str, list[float]]:
    from core.config.settings import TimeConfig
    from core.store.reader import SqliteReader
    from core.time import sums
    from core.time.report import am_report

    config = TimeConfig(**RULE)
    reader = SqliteReader(path)
    assert sums.current(reader, config)
    kept = sums.current
    found: dict[str, list[float]] = {
        "year": [],
        "month": [],
        "rows": [],
        "floor": [],
        "command": [],
        "start-up": [],
    }
    # The peer: the same pass with nothing but a sum, the least any grouping of it costs.
    floor = (
        "SELECT month, project_id, user_email, sum(minutes) FROM timerow"
        " WHERE month >= '2025-12' AND month <= '2026-11' GROUP BY month, project_id, user_email"
    )
    for _ in range(runs):
        began = time.perf_counter()
        reader.rows(floor)
        found["floor"].append(time.perf_counter() - began)
        began = time.perf_counter()
        am_report(reader, config, YEAR_START, YEAR_END)
        found["year"].append(time.perf_counter() - began)
        began = time.perf_counter()
        am_report(reader, config, date(2026, 11, 1), YEAR_END)
        found["month"].append(time.perf_counter() - began)
        # The peer: the same year read from the rows, as a report does without sums.
        sums.current = lambda reader, rule: False  # type: ignore[assignment]
        try:
            began = time.perf_counter()
            am_report(reader, config, YEAR_START, YEAR_END)
            found["rows"].append(time.perf_counter() - began)
        finally:
            sums.current = kept
    env = {**os.environ, "PMDESK_DB": str(path), "PMDESK_CONFIG": str(config_path)}
    command = [
        sys.executable,
        "-m",
        "pmdesk",
        "report",
        "am",
        "--since",
        YEAR_START.isoformat(),
        "--until",
        YEAR_END.isoformat(),
        "--json",
    ]
    # The command's own start-up: the same command on an empty database beside it.
    from core.store.db import open_database

    empty = path.parent / "time-empty.db"
    open_database(str(empty)).dispose()
    bare = {**env, "PMDESK_DB": str(empty)}
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, cwd=ROOT, check=False)
        found["command"].append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(done.stderr.decode())
        began = time.perf_counter()
        subprocess.run(command, env=bare, capture_output=True, cwd=ROOT, check=True)
        found["start-up"].append(time.perf_counter() - began)
    projects = len(json.loads(done.stdout)["projects"])
    print(f"  the command's answer: {projects} projects")
    return found


async def sync_run(count: int, directory: Path) -> dict[str, Any]:
    import bots.worksection.time as connector
    from bots.worksection.api import WorksectionClient
    from core.store.db import open_database
    from tests.fakes.worksection import API_KEY, FakeWorksection

    now = datetime(2026, 12, 4, tzinfo=UTC)
    fake = FakeWorksection(now=lambda: now, min_interval=1.0)
    for row in rows(count, 200, YEAR_START, YEAR_END, seed=11):
        fake.costs[row["id"]] = row
    from core.config.settings import TimeConfig
    from core.time import sums

    for stale in directory.glob("sync.db*"):
        stale.unlink()  # a fresh copy: the first sync adds every row
    engine = open_database(str(directory / "sync.db"))
    sums.ensure(engine, TimeConfig(**RULE), now)  # kept by each window from then on
    stored: list[float] = []
    apply = connector.apply_window

    def timed(*args: Any, **options: Any) -> Any:
        began = time.perf_counter()
        try:
            return apply(*args, **options)
        finally:
            stored.append(time.perf_counter() - began)

    connector.apply_window = timed  # type: ignore[assignment]
    found: dict[str, Any] = {}
    with fake.running():
        # A little over a second apart, as pmdesk's own runs pace themselves.
        client = WorksectionClient(fake.url, api_key=API_KEY, min_interval=1.05)
        try:
            for label in ("first", "again"):
                stored.clear()
                began = time.perf_counter()
                summary = await connector.sync_time(client, engine, YEAR_START, YEAR_END)
                found[label] = {
                    "wall": time.perf_counter() - began,
                    "stored": sum(stored),
                    "requests": len(stored),
                    "added": summary.added,
                    "unchanged": summary.unchanged,
                }
        finally:
            await client.aclose()
    found["refused_as_too_soon"] = fake.refused.count("rate")
    connector.apply_window = apply  # type: ignore[assignment]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--sync-rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    print(machine())
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    path = out / f"time-{options.rows}-{options.projects}.db"
    if not path.exists():
        began = time.perf_counter()
        per_thousand = build(path, options.rows, options.projects)
        print(
            f"built {options.rows:,} rows on {options.projects} projects in "
            f"{time.perf_counter() - began:.1f} s; "
            f"storing: {per_thousand * 1000:.1f} ms per 1,000 rows"
        )
    every, one = sum_months(path)
    print(
        f"every month summed under the rule (once per change of it): {every:.2f} s; "
        f"one month (a sync changing a row of it): {one * 1000:.0f} ms"
    )
    config_path = out / "time-bench.toml"
    config_path.write_text(
        '[time]\nam_tags = ["AM", "Communication"]\nam_task_words = ["report"]\n'
        'am_roles = ["assistant"]\n'
    )
    print(f"report am ({options.runs} runs, medians):")
    runs = report_runs(path, config_path, options.runs)
    for label, values in runs.items():
        print(
            f"  {label:8} median {statistics.median(values) * 1000:7.1f} ms  "
            f"max {max(values) * 1000:7.1f} ms"
        )
    print(f"time sync of {options.sync_rows:,} rows over a year, paced at one request a second:")
    found = asyncio.run(sync_run(options.sync_rows, out))
    for label in ("first", "again"):
        run = found[label]
        print(
            f"  {label:6} {run['wall']:6.1f} s wall, {run['requests']} requests, "
            f"storing {run['stored']:.2f} s "
            f"({run['stored'] / run['wall'] * 100:.1f} % of the wall time; "
            f"{run['stored'] / options.sync_rows * 1000 * 1000:.1f} ms per 1,000 rows), "
            f"{run['added']:,} added, {run['unchanged']:,} unchanged"
        )
    print(f"  calls refused as too soon: {found['refused_as_too_soon']}")


if __name__ == "__main__":
    main()
