"""Benchmark: `pmdesk clocks --json` and `pmdesk report sla --json` on a big database.

Builds (once, cached under bench/out/) a database of 1,000,000 events on
20,000 threads over a year through `pmdesk ingest` itself, which yields about
300,000 clocks, then times each command as a user runs it: a fresh process,
start-up and output included. The commands are run in turns (one of each,
then again), so that a change in the host's load touches them alike; the
report over a year is compared with the 7-day one and with its 0.2 s target.

    .venv/bin/python bench/queries.py [--events 1000000] [--threads 20000] [--runs 7]
"""

from __future__ import annotations

import argparse
import compileall
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import machine
from generate import events, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SPAN = timedelta(days=365)
YEAR_TARGET_S = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--compare", type=Path, help="another source tree of pmdesk, run in the same turns"
    )
    args = parser.parse_args()
    trees = {"": ROOT}
    if args.compare is not None:
        trees[f" [{args.compare.name}]"] = args.compare.resolve()
    for tree in trees.values():
        for package in ("pmdesk", "core"):
            compileall.compile_dir(tree / package, quiet=1)
    OUT.mkdir(exist_ok=True)
    # The year of history ends today, so the report's default period (the
    # last 7 days) holds a full week of answers.
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    database = OUT / f"queries-{args.events}-{args.threads}-{end:%Y%m%d}.db"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    env["PMDESK_DB"] = str(database)
    print(f"machine: {machine()}")
    if not database.exists():
        build(database, args.events, args.threads, end - SPAN, env)
    with sqlite3.connect(database) as connection:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("event", "clock", "thread")
        }
        running = connection.execute(
            "SELECT count(*) FROM clock WHERE outcome = 'running'"
        ).fetchone()[0]
    print(
        f"database: {counts['event']:,} events, {counts['clock']:,} clocks "
        f"({running:,} running), {counts['thread']:,} threads, "
        f"{database.stat().st_size / 1e6:.0f} MB"
    )
    commands = {
        "pmdesk clocks --json": ["clocks", "--json"],
        "pmdesk report sla --json (last 7 days)": ["report", "sla", "--json"],
        "pmdesk report sla --json over the whole year (--since a year ago)": [
            "report",
            "sla",
            "--json",
            "--since",
            f"{end - SPAN:%Y-%m-%d}",
        ],
        "python -c pass (interpreter start-up alone)": None,
    }
    stopped_week = (
        sqlite3.connect(database)
        .execute(
            "SELECT count(*) FROM clock WHERE stopped_at >= ?",
            [f"{end - timedelta(days=7):%Y-%m-%d %H:%M:%S}"],
        )
        .fetchone()[0]
    )
    print(f"clocks answered in the last 7 days: {stopped_week:,}")
    # The first command on a database of an older schema upgrades it (the
    # SLA rollups are built from its clocks then): timed apart, not counted.
    print(f"first run, upgrading the schema if behind: {timed(['clocks', '--json'], env):.1f} s")
    runs = {
        (label + suffix, tree): command
        for label, command in commands.items()
        for suffix, tree in (trees.items() if command is not None else [("", ROOT)])
    }
    times: dict[tuple[str, Path], list[float]] = {key: [] for key in runs}
    for _ in range(args.runs):
        for (label, tree), command in runs.items():
            times[(label, tree)].append(timed(command, env, tree))
    medians = {label: statistics.median(taken) for (label, _), taken in times.items()}
    for (label, _), taken in times.items():
        print(
            f"{label}: median {medians[label]:.3f} s, max {max(taken):.3f} s over {args.runs} runs"
        )
    for suffix in trees:
        week, year = (medians[label + suffix] for label in list(commands)[1:3])
        print(f"whole year / 7 days{suffix}: {year / week:.2f} (target at most 1.5)")
        print(f"whole year / 0.2 s target{suffix}: {year / YEAR_TARGET_S:.2f} (target at most 1)")
    for suffix in list(trees)[1:]:
        for label, command in commands.items():
            if command is not None:
                ratio = medians[label] / medians[label + suffix]
                print(f"{label}: this tree / {suffix.strip(' []')}: {ratio:.2f}")


def build(database: Path, count: int, threads: int, start: datetime, env: dict[str, str]) -> None:
    source = OUT / "queries.jsonl"
    write_jsonl(source, events(count, threads, start, SPAN, seed=3))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pmdesk", "ingest", "--json", str(source)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    print(f"built with pmdesk ingest in {elapsed:.0f} s ({count / elapsed:,.0f} events/s)")
    source.unlink()


def timed(command: list[str] | None, env: dict[str, str], tree: Path = ROOT) -> float:
    """One fresh process; `python -m pmdesk` from `tree` runs that tree's pmdesk."""
    argv = [sys.executable, "-c", "pass"]
    if command is not None:
        argv = [sys.executable, "-m", "pmdesk", *command]
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, cwd=tree)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
