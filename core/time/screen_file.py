"""The dashboard's batches of pmdesk's own measure, written to a SQLite file with sqlite3 alone.

The same rows as core.time.recorder.add_screen_time, which needs SQLAlchemy
and the tables' models: loading those in the dashboard's process the first
time a thread was closed took close to a second of the interpreter, shared
with the screen drawing the key presses of that moment
(docs/benchmarks.md, dashboard round 15). The dashboard reads through
sqlite3 already (core.store.reader); on a SQLite file it writes this batch
the same way. Other databases go through the recorder.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from datetime import date, datetime
from pathlib import Path

from core.store.reader import BUSY_TIMEOUT_S, stamp

Batch = Mapping[tuple[int, date], float]

# Added to the day's row, as the recorder's INSERT ... ON CONFLICT DO UPDATE;
# a thread deleted meanwhile selects no row, so the rest of the batch stays.
_ADD = (
    "INSERT INTO owntime (staff_id, thread_id, day, month, screen_seconds,"
    " telegram_seconds, telegram_actions, updated_at)"
    " SELECT :staff, id, :day, :month, :seconds, 0, 0, :now FROM thread WHERE id = :thread"
    " ON CONFLICT (staff_id, thread_id, day) DO UPDATE SET"
    " screen_seconds = owntime.screen_seconds + excluded.screen_seconds,"
    " updated_at = excluded.updated_at"
)


def add_screen_time_to_file(path: Path, staff_id: int, batch: Batch, now: datetime) -> int:
    """Add the batch (seconds per thread and day) for `staff_id`, in one transaction.

    Returns how many (thread, day) rows it touched.
    """
    rows = [
        {
            "staff": staff_id,
            "thread": thread_id,
            "day": day.isoformat(),
            "month": day.strftime("%Y-%m"),
            "seconds": round(seconds),
            "now": stamp(now),
        }
        for (thread_id, day), seconds in batch.items()
        if round(seconds) > 0
    ]
    if not rows:
        return 0
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            touched = sum(db.execute(_ADD, row).rowcount for row in rows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return touched
