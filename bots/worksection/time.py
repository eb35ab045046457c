"""Time logged in Worksection, copied into pmdesk (core.time; docs/time.md).

`sync_time` reads `get_costs` window by window (a month at most per request;
a window whose answer would pass Worksection's 10,000 rows is halved until it
fits) and makes pmdesk's copy of each window equal to the answer
(core.time.sync.apply_window). Requests are paced by the client (about one a
second): a sync of many rows is bounded by that, storing a window's rows takes
a small part of a second.

`run_time_sync` is the services' turn: every `time.sync_interval` seconds (an
hour), the last `time.window_days` days (35) of the account, so that rows
edited or deleted in Worksection during that time are followed. A failed turn
is tried again five minutes later; nothing is lost meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bots.worksection.api import WorksectionClient, WorksectionError, too_many_records
from core.base.instants import Now, utc_now
from core.config.settings import Settings
from core.time.sync import SyncSummary, apply_window

log = logging.getLogger("pmdesk.worksection.time")

# The widest window one request asks for.
SPAN_DAYS = 31
# How soon a failed turn of the services is tried again (seconds).
RETRY_AFTER = 300.0

Progress = Callable[[int, int, SyncSummary], None]


def windows(since: date, until: date, span: int = SPAN_DAYS) -> list[tuple[date, date]]:
    """`since`..`until` cut into windows of `span` days at most, in order."""
    if until < since:
        raise ValueError("the period ends before it starts")
    found: list[tuple[date, date]] = []
    start = since
    while start <= until:
        end = min(until, start + timedelta(days=span - 1))
        found.append((start, end))
        start = end + timedelta(days=1)
    return found


async def sync_time(
    client: WorksectionClient,
    engine: Engine,
    since: date,
    until: date,
    *,
    clock: Now = utc_now,
    progress: Progress | None = None,
    span: int = SPAN_DAYS,
) -> SyncSummary:
    """Make pmdesk's copy of `since`..`until` (both included) equal to Worksection's.

    Raises WorksectionError when Worksection cannot answer; the windows
    already done stay done (each is complete on its own).
    """
    total = SyncSummary()
    parts = windows(since, until, span)
    for done, (start, end) in enumerate(parts, start=1):
        total += await _window(client, engine, start, end, clock)
        if progress is not None:
            progress(done, len(parts), total)
    return total


async def _window(
    client: WorksectionClient, engine: Engine, start: date, end: date, clock: Now
) -> SyncSummary:
    try:
        rows = await client.get_costs(start, end)
    except WorksectionError as error:
        if not too_many_records(error) or start == end:
            raise
        middle = start + timedelta(days=(end - start).days // 2)
        log.info("over 10,000 time rows from %s to %s: asking in halves", start, end)
        summary = await _window(client, engine, start, middle, clock)
        summary += await _window(client, engine, middle + timedelta(days=1), end, clock)
        return summary
    return await asyncio.to_thread(apply_window, engine, rows, start, end, clock=clock)


def recent_window(settings: Settings, clock: Now = utc_now) -> tuple[date, date]:
    """The days the services keep equal: the last `time.window_days`, today included.

    Today is the account's (Worksection's dates are in its time zone).
    """
    config = settings.worksection
    zone = ZoneInfo(config.timezone if config is not None else settings.timezone)
    today = clock().astimezone(zone).date()
    return today - timedelta(days=settings.time.window_days - 1), today


async def run_time_sync(
    settings: Settings,
    engine: Engine,
    stop: asyncio.Event,
    client: WorksectionClient,
    *,
    clock: Now = utc_now,
    interval: float | None = None,
    retry_after: float = RETRY_AFTER,
) -> None:
    """Sync the recent window now and then every `interval` (time.sync_interval) until `stop`."""
    every = settings.time.sync_interval if interval is None else interval
    while not stop.is_set():
        since, until = recent_window(settings, clock)
        wait = every
        try:
            summary = await sync_time(client, engine, since, until, clock=clock)
        except WorksectionError as error:
            log.warning("time sync failed: %s; trying again later", error.message)
            wait = min(every, retry_after)
        except Exception:
            log.exception("time sync failed")
            wait = min(every, retry_after)
        else:
            _log_summary(summary, since, until)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)


def _log_summary(summary: SyncSummary, since: date, until: date) -> None:
    if summary.added or summary.changed or summary.removed:
        log.info(
            "time %s..%s: %d added, %d changed, %d removed, %d refused",
            since,
            until,
            summary.added,
            summary.changed,
            summary.removed,
            len(summary.refused),
        )


def summary_json(summary: SyncSummary, since: date, until: date) -> dict[str, Any]:
    return {"since": since.isoformat(), "until": until.isoformat(), **summary.as_dict()}
