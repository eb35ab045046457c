"""Benchmark: `pmdesk ingest` of 100,000 events into a fresh database.

Runs the real command in a subprocess (start-up included) on a generated
JSON Lines file, then times a plain sqlite3 `executemany` of the same rows
into one bare table as the ceiling, and prints both rates and their ratio.

    .venv/bin/python bench/ingest.py [--events 100000] [--threads 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import machine
from generate import DEFAULT_START, events, write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        source = folder / "events.jsonl"
        write_jsonl(source, events(args.events, args.threads, DEFAULT_START, timedelta(days=60)))
        print(f"machine: {machine()}")
        print(
            f"input: {args.events} events on {args.threads} threads, "
            f"{source.stat().st_size / 1e6:.1f} MB of JSON Lines"
        )
        ours = [run_pmdesk(source, folder / f"run{run}.db") for run in range(args.runs)]
        ceiling = [run_executemany(source, folder / f"bare{run}.db") for run in range(args.runs)]
    best_ours, best_ceiling = min(ours), min(ceiling)
    rate = args.events / best_ours
    ceiling_rate = args.events / best_ceiling
    print(
        f"pmdesk ingest: {best_ours:.2f} s best of {args.runs} "
        f"({', '.join(f'{t:.2f}' for t in ours)}) -> {rate:,.0f} events/s; "
        f"median run {args.events / statistics.median(ours):,.0f} events/s"
    )
    print(f"sqlite3 executemany, bare table: {best_ceiling:.2f} s -> {ceiling_rate:,.0f} rows/s")
    print(f"pmdesk ingest is {rate / ceiling_rate:.1%} of the bare executemany rate")
    print(f"target >= 10,000 events/s: {'met' if rate >= 10_000 else 'NOT MET'}")


def run_pmdesk(source: Path, database: Path) -> float:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    env["PMDESK_DB"] = str(database)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", "ingest", "--json", str(source)],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"pmdesk ingest failed:\n{result.stderr[-2000:]}")
    summary = json.loads(result.stdout)
    assert summary["rejected"] == 0 and summary["duplicate"] == 0, summary
    return elapsed


def run_executemany(source: Path, database: Path) -> float:
    """The same rows through sqlite3 alone: no validation, no clocks, no indexes."""
    rows = []
    with source.open("rb") as handle:
        for line in handle:
            event = json.loads(line)
            author = event["author"]
            rows.append(
                (
                    event["source"],
                    event["id"],
                    event["task"]["id"],
                    event["kind"],
                    event["occurred_at"],
                    author["name"],
                    author["email"],
                    author["role"],
                    event["text"],
                    bool(event.get("internal")),
                    line.decode(),
                )
            )
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(
        "CREATE TABLE event (source, external_id, task, kind, occurred_at, author_name, "
        "author_email, author_role, text, internal, raw)"
    )
    started = time.perf_counter()
    with connection:
        connection.executemany("INSERT INTO event VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


if __name__ == "__main__":
    main()
