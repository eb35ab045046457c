"""The services' daily backup: one copy of the SQLite database a day, the last N kept.

Set by `[backup]` (core.config.backup): `folder` (unset: no backup),
`keep`, `at` (the agency's time zone, every day, weekends included). The
copy is core.store.backup's, consistent while everything goes on writing.
On PostgreSQL nothing is copied: pg_dump's schedule is the server's
(docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bots.services.scheduler import add_daily
from core.base.instants import Now
from core.config.settings import ALWAYS_OPEN, Settings
from core.store.backup import BackupError, daily_copy
from core.store.reader import sqlite_path

log = logging.getLogger("pmdesk.backup")


def add_backup_job(scheduler: AsyncIOScheduler, settings: Settings, clock: Now) -> bool:
    """Schedule the daily copy when `[backup] folder` is set; whether it was."""
    folder = settings.backup.folder
    if folder is None:
        return False
    database = sqlite_path(settings.db)
    if database is None:
        log.warning("[backup] folder is set, but PostgreSQL is backed up with pg_dump: no copy")
        return False

    async def run() -> None:
        await asyncio.to_thread(take_backup, database, Path(folder), settings.backup.keep, clock)

    add_daily(
        scheduler,
        settings.backup.at,
        settings.calendar(ALWAYS_OPEN),
        run,
        timezone=settings.timezone,
        id="backup",
        clock=clock,
    )
    return True


def take_backup(database: Path, folder: Path, keep: int, clock: Now) -> Path | None:
    """One copy into `folder`, the oldest past `keep` removed; None (logged) if it failed."""
    try:
        made, removed = daily_copy(database, folder, clock(), keep)
    except (BackupError, OSError) as error:
        # Tomorrow tries again; the copies already there stay.
        log.error("the daily backup failed: %s", error)
        return None
    log.info(
        "daily backup %s (%d bytes)%s",
        made.path,
        made.size,
        f", {len(removed)} older removed" if removed else "",
    )
    return made.path
