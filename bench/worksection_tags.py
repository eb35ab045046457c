"""Benchmark: a tag sweep of a 50,000-task Worksection account, pmdesk's own share.

Worksection answers at most 10,000 records, so pmdesk reads tags project by
project, one request per project, at most one request a second: a sweep of
P projects lasts at least P + 1 seconds of pacing. This measures what comes
on top, pmdesk's work per request (HTTP to a fake account on loopback, JSON,
comparison with the snapshot, writing what changed), with pacing switched
off, for the same 50,000 tasks split two ways, side by side in one run.
The fake answers from the same process, so its JSON counts too; the time
spent comparing with the snapshot and storing is given apart:

- the first sweep, which records every task;
- a steady sweep, which finds three tag changes among 50,000 tasks.

    .venv/bin/python bench/worksection_tags.py [--runs 3] [--tasks 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import machine

SHAPES = ((10, "10 projects of 5,000"), (100, "100 projects of 500"))


async def one_run(tasks: int, projects: int, folder: Path) -> tuple[float, float, float]:
    """Seconds of the first sweep and of a steady one, and the comparison's share of it."""
    from bots.worksection.api import WorksectionClient
    from bots.worksection.poller import WorksectionConnector
    from core.config.settings import Settings, WorksectionConfig
    from core.store.db import open_database
    from tests.fakes.worksection import API_KEY, FakeWorksection

    def now() -> datetime:
        return datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    account = FakeWorksection(now=now)
    per_project = tasks // projects
    for p in range(projects):
        for n in range(per_project):
            account.add_task(
                f"{p + 1}{n:06d}", f"Task {n}", (f"{500 + p}", f"Client {p}"), ["Todo"]
            )
    database = str(folder / f"sweep-{projects}.db")
    engine = open_database(database)
    with account.running():
        settings = Settings(
            db=database,
            policies={"default": {"calendar": "24/7"}},
            worksection=WorksectionConfig(
                base_url=account.url, api_key=API_KEY, min_request_interval=0
            ),
        )
        client = WorksectionClient(account.url, api_key=API_KEY, min_interval=0)
        connector = WorksectionConnector(settings, engine, clock=now, client=client)
        compared = [0.0]
        compare = connector._compare_tags

        async def timed(*args: Any) -> int:
            started = time.perf_counter()
            try:
                return await compare(*args)
            finally:
                compared[0] += time.perf_counter() - started

        connector._compare_tags = timed  # type: ignore[method-assign]
        started = time.perf_counter()
        assert await connector.poll_tags() == 0
        first = time.perf_counter() - started
        for p in (0, projects // 2, projects - 1):
            account.set_tags(f"{p + 1}{0:06d}", ["Review"])
        compared[0] = 0.0
        started = time.perf_counter()
        assert await connector.poll_tags() == 3
        steady = time.perf_counter() - started
        await client.aclose()
    engine.dispose()
    return first, steady, compared[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=50_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{args.tasks:,} tasks, pacing off, {args.runs} runs of each shape, alternated")
    results: dict[int, list[tuple[float, float, float]]] = {projects: [] for projects, _ in SHAPES}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            for projects, _ in SHAPES:
                place = Path(folder) / f"{run}"
                place.mkdir(exist_ok=True)
                results[projects].append(asyncio.run(one_run(args.tasks, projects, place)))
    for projects, name in SHAPES:
        firsts = [first for first, _, _ in results[projects]]
        steadies = [steady for _, steady, _ in results[projects]]
        ours = [compared for _, _, compared in results[projects]]
        first, steady, own = (statistics.median(v) for v in (firsts, steadies, ours))
        print(
            f"{name}: first sweep {first:.2f} s (runs {shown(firsts)}), "
            f"steady sweep {steady:.2f} s (runs {shown(steadies)}), "
            f"of which comparing and storing {own:.2f} s (runs {shown(ours)}); "
            f"per request {steady / (projects + 1) * 1000:.0f} ms, "
            f"{own / (projects + 1) * 1000:.0f} ms of it comparing; "
            f"steady/first {steady / first:.2f}; pacing at 1 request/s: {projects + 1} s"
        )


def shown(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    main()
