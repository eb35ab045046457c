"""Benchmark: the intake's writer late in a busy month, against the same early in it.

The HTTP intake stores events a few dozen at a time. Each transaction that
stops a clock adds the answer to the SLA rollups (core.sla.rollups): this
measures whether what that costs grows with the answers the month already
holds. A database is filled with `--answers`-worth of a month's history
(pmdesk's own ingestion, in large batches, from the 1st to the 27th of
November), then 6,000 more events of the 28th are stored the way the
intake stores them (`Ingestor.ingest_batch`, `--batch` events at a time,
in this process); the same 6,000 are stored into a database holding only
the 1st of the month. Printed: the CPU time an event of the writer in each
(median of `--runs`, each run on fresh copies), their ratio, and the bytes
of everyone's rollup rows an answer rewrites at the end.

    .venv/bin/python bench/busy_month.py [--answers 25000] [--batch 32] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from figures import machine
from generate import events

# About 30% of the events open a clock and nearly all of those are answered
# (bench/generate.py): events of history per answer wanted.
EVENTS_PER_ANSWER = 3.4
MONTH = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
LATE_DAY = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
MEASURED = 6_000
STORED_AFTER = timedelta(hours=9)  # the clock of the measured writes: after their events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=25_000, help="answers in the busy month")
    parser.add_argument("--batch", type=int, default=32, help="events a transaction")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    gc.freeze()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        history = round(args.answers * EVENTS_PER_ANSWER)
        busy = _filled(folder / "busy.db", history, LATE_DAY - MONTH)
        quiet = _filled(folder / "quiet.db", history // 27, timedelta(days=1))
        answers = {name: _answers(path) for name, path in (("busy", busy), ("quiet", quiet))}
        late = [
            json.dumps(event).encode()
            for event in events(MEASURED, 2_000, LATE_DAY, timedelta(hours=8), seed=7)
        ]
        # Another source's ids: none of them is a duplicate of the history's.
        late = [line.replace(b'"source": "bench"', b'"source": "intake"', 1) for line in late]
        figures: dict[str, list[float]] = {"busy": [], "quiet": []}
        rewritten: dict[str, int] = {}
        for run in range(args.runs):
            for name, source in (("quiet", quiet), ("busy", busy)):
                copy = folder / f"{name}-{run}.db"
                shutil.copy(source, copy)
                cpu, rewritten[name] = _store(copy, late, args.batch)
                figures[name].append(cpu)
    quiet_cpu = statistics.median(figures["quiet"])
    busy_cpu = statistics.median(figures["busy"])
    print(
        f"{MEASURED:,} events of November 28th, {args.batch} a transaction, "
        f"in process ({args.runs} runs)"
    )
    for name, label in (("quiet", "early in the month"), ("busy", "late in a busy month")):
        values = ", ".join(f"{value:.1f}" for value in figures[name])
        print(
            f"{label}: month holding {answers[name]:,} answers: median "
            f"{statistics.median(figures[name]):.1f} us of CPU an event ({values}); "
            f"an answer rewrites {rewritten[name]:,} bytes of everyone's rollups"
        )
    print(f"late / early: {busy_cpu / quiet_cpu:.2f}x (target: flat, within 1.1x)")


def _filled(path: Path, count: int, span: timedelta) -> Path:
    """A database holding `count` events from the 1st of the month over `span`."""
    from core.config.settings import Settings
    from core.conversations.ingest import Ingestor
    from core.store.db import open_database

    engine = open_database(str(path), bulk=True)
    ingestor = Ingestor.for_settings(engine, Settings(), clock=lambda: LATE_DAY, batch_size=5000)
    ingestor.ingest(events(count, 2_000, MONTH, span, seed=3))
    ingestor.close()
    engine.dispose()
    return path


def _answers(path: Path) -> int:
    return _number(
        path, "SELECT sum(answered) FROM slarollup WHERE span = 'day' AND dimension = 'all'"
    )


def _store(path: Path, lines: list[bytes], batch: int) -> tuple[float, int]:
    """CPU µs an event of storing `lines` `batch` at a time, and the bytes an answer rewrites."""
    from core.config.settings import Settings
    from core.conversations.ingest import Ingestor
    from core.store.db import open_database

    engine = open_database(str(path))
    ingestor = Ingestor.for_settings(engine, Settings(), clock=lambda: LATE_DAY + STORED_AFTER)
    created = 0
    started = time.process_time()
    for start in range(0, len(lines), batch):
        results = ingestor.ingest_batch(lines[start : start + batch])
        created += sum(result.status == "created" for result in results)
    spent = time.process_time() - started
    assert created == len(lines), f"{len(lines) - created} of the events not created"
    ingestor.close()
    engine.dispose()
    return spent / len(lines) * 1e6, _last_rewrite(path)


def _last_rewrite(path: Path) -> int:
    """Bytes of everyone's rollup rows of the 28th and of November: what an answer rewrites.

    (Besides those of its staff member and client, smaller.)
    """
    return _number(
        path,
        "SELECT sum(length(business) + length(wall)) FROM slarollup WHERE dimension = 'all' "
        "AND ((span = 'day' AND start = '2026-11-28') "
        "OR (span = 'month' AND start = '2026-11-01'))",
    )


def _number(path: Path, query: str) -> int:
    """The one number `query` reads from the database at `path` (0 for none)."""
    connection = sqlite3.connect(path)
    try:
        row = connection.execute(query).fetchone()
    finally:
        connection.close()
    return int(row[0] or 0)


if __name__ == "__main__":
    main()
